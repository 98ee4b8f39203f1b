package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validate -json prints Terraform's format on stdout, valid or not.
func TestValidateJSON(t *testing.T) {
	dir := writeDSLPlan(t, dslCmdPlan)
	code, out, _ := dslCmd(t, dir, "validate", "-json", "plan.hcl", "-H", "web1")
	if code != exitUsage {
		t.Errorf("exit %d, want 2", code)
	}
	var v struct {
		FormatVersion string `json:"format_version"`
		Valid         bool   `json:"valid"`
		ErrorCount    int    `json:"error_count"`
		WarningCount  int    `json:"warning_count"`
		Diagnostics   []struct {
			Severity, Summary, Detail string
			Range                     struct {
				Filename string
				Start    struct{ Line, Column, Byte int }
			}
			Snippet struct {
				Context              string
				Code                 string
				StartLine            int `json:"start_line"`
				HighlightStartOffset int `json:"highlight_start_offset"`
				HighlightEndOffset   int `json:"highlight_end_offset"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if v.FormatVersion != "1.0" || v.Valid || v.ErrorCount != 1 || len(v.Diagnostics) != 1 {
		t.Fatalf("%+v", v)
	}
	d := v.Diagnostics[0]
	if d.Severity != "error" || d.Summary != "Reference to undeclared variable" || d.Range.Filename != "plan.hcl" ||
		d.Range.Start.Line != 10 || d.Snippet.StartLine != 10 || d.Snippet.Context != `task "hello"` ||
		d.Snippet.Code[d.Snippet.HighlightStartOffset:d.Snippet.HighlightEndOffset] != "var.nope" {
		t.Errorf("%+v", d)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the JSON shows the secret:\n%s", out)
	}
	code, out, _ = dslCmd(t, writeDSLPlan(t, `group "g" {}`), "validate", "--json", "plan.hcl")
	if code != exitOK || !strings.Contains(out, `"valid": true`) || !strings.Contains(out, `"diagnostics": []`) {
		t.Errorf("valid plan: exit %d\n%s", code, out)
	}
}

// Diagnostics are bounded: a one-line file of nested ${, binary garbage
// and deep parentheses print a few readable kilobytes, fast.
func TestDiagnosticsBounded(t *testing.T) {
	garbage := make([]byte, 200<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/13)
	}
	for name, src := range map[string]string{
		"interp":   "x = \"" + strings.Repeat("${", 20000) + "\"\n",
		"garbage":  string(garbage),
		"parens":   "x = " + strings.Repeat("(", 50000) + "1" + strings.Repeat(")", 50000) + "\n",
		"many":     strings.Repeat("task \"a b\" {}\n", 2000),
		"nots":     "x = " + strings.Repeat("!", 50000) + "true\n",
		"longline": "locals {\n  x = \"" + strings.Repeat("a", 40000) + "\" + nope\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeDSLPlan(t, src)
			start := time.Now()
			code, _, errs := dslCmd(t, dir, "validate", "plan.hcl")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if code != exitUsage {
				t.Errorf("exit %d", code)
			}
			if len(errs) > 64<<10 {
				t.Errorf("%d bytes of diagnostics", len(errs))
			}
			for _, c := range errs {
				if c < ' ' && c != '\n' && c != '\t' || c == 0x7f {
					t.Fatalf("a raw control byte %#x on stderr", c)
				}
			}
			if (name == "nots" || name == "parens") && !strings.Contains(errs, "Nested too deeply") {
				t.Errorf("not refused before parsing (HCL's parser recurses on each level):\n%.300s", errs)
			}
			if name == "many" && !strings.Contains(errs, "more errors") {
				t.Errorf("no count of what was left out:\n%s", errs[len(errs)-300:])
			}
		})
	}
}

// A bare -H with groups in two of the plans named is refused (which
// group would depend on the order of the arguments).
func TestBareHostAmbiguous(t *testing.T) {
	dir := writeDSLPlan(t, `group "mine" {}`)
	code, _, errs := dslCmd(t, dir, "validate", "plan.hcl", "hello", "-H", "cp1")
	if code != exitUsage || !strings.Contains(errs, "Which group for -H?") || !strings.Contains(errs, "-H mine=cp1") {
		t.Errorf("exit %d\n%s", code, errs)
	}
	code, _, errs = dslCmd(t, dir, "validate", "plan.hcl", "hello", "-H", "mine=cp1")
	if code != exitOK {
		t.Errorf("with a group: exit %d\n%s", code, errs)
	}
}

// Typos in --task, --only and --limit suggest a name instead of listing all.
func TestTypoSuggestions(t *testing.T) {
	dir := writeDSLPlan(t, `group "web" {}
task "deploy" {
  on = group.web.hosts
  run "x" {
    command = "true"
  }
}
task "other" {
  on = group.web.hosts
  run "x" {
    command = "true"
  }
}
`)
	code, _, errs := dslCmd(t, dir, "render", "plan.hcl", "-H", "web1", "--task", "deplyo")
	if code != exitUsage || !strings.Contains(errs, `Did you mean "deploy"?`) || strings.Contains(errs, "other") {
		t.Errorf("render --task: exit %d\n%s", code, errs)
	}
	logs := filepath.Join(t.TempDir(), "logs")
	code, _, errs = dslCmd(t, dir, "run", "plan.hcl", "-H", "web1", "--no-state", "--log-dir", logs, "--limit", "wbe1")
	if code != exitUsage || !strings.Contains(errs, `Did you mean "web1"?`) {
		t.Errorf("run --limit: exit %d\n%s", code, errs)
	}
}

// plan fmt follows a symlink: the file it points to is formatted, the
// link stays a link.
func TestFmtKeepsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.hcl")
	if err := os.WriteFile(real, []byte("x   =  1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.hcl")
	if err := os.Symlink("real.hcl", link); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := dslCmd(t, "", "fmt", link); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(real); string(b) != "x = 1\n" {
		t.Errorf("real.hcl = %q", b)
	}
	if st, _ := os.Stat(real); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

// plan init into a directory that does not exist is a command-line
// mistake (2); 1 is kept for failed nodes.
func TestInitMissingParent(t *testing.T) {
	code, _, errs := dslCmd(t, t.TempDir(), "init", "hello", "/no/such/dir")
	if code != exitUsage || !strings.Contains(errs, "/no/such") {
		t.Errorf("exit %d: %s", code, errs)
	}
}
