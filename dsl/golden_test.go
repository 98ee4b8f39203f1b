package dsl

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/plan-dev/plan/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// optionsFromHeader reads "# -H ...", "# --var ..." and "# --var-file ..."
// comment lines at the top of a test plan.
func optionsFromHeader(t *testing.T, file string) Options {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	for _, line := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case strings.HasPrefix(line, "-H "):
			o.Hosts = append(o.Hosts, strings.TrimPrefix(line, "-H "))
		case strings.HasPrefix(line, "--var "):
			o.Vars = append(o.Vars, strings.TrimPrefix(line, "--var "))
		case strings.HasPrefix(line, "--var-file "):
			o.VarFiles = append(o.VarFiles, filepath.Join(filepath.Dir(file), strings.TrimPrefix(line, "--var-file ")))
		}
	}
	return o
}

// diagText is the golden form of diagnostics: file:line:col, summary and
// detail, one diagnostic per paragraph.
func diagText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		loc := "-"
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d", filepath.ToSlash(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column)
		}
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		fmt.Fprintf(&b, "%s: %s: %s\n  %s\n", loc, sev, d.Summary, strings.ReplaceAll(d.Detail, "\n", "\n  "))
	}
	return b.String()
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	golden.Check(t, path, got, *update, "go test ./dsl -update")
}

func TestInvalidPlansGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.hcl")
	if len(files) == 0 {
		t.Fatal("no invalid test plans")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, diags := Load([]string{f}, optionsFromHeader(t, f))
			if !diags.HasErrors() {
				t.Fatalf("want errors, got none")
			}
			got := diagText(diags)
			for _, s := range p.Secrets() {
				if strings.Contains(got, s) {
					t.Errorf("diagnostics leak the secret %q", s)
				}
			}
			checkGolden(t, strings.TrimSuffix(f, ".hcl")+".diags", got)
		})
	}
}

func TestValidPlansRenderGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.hcl")
	if len(files) == 0 {
		t.Fatal("no valid test plans")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, diags := Load([]string{f}, optionsFromHeader(t, f))
			if diags.HasErrors() {
				t.Fatalf("unexpected errors:\n%s", diagText(diags))
			}
			var buf bytes.Buffer
			if d := Render(p, &buf); d.HasErrors() {
				t.Fatalf("render: %s", diagText(d))
			}
			for _, s := range p.Secrets() {
				if strings.Contains(buf.String(), s) {
					t.Errorf("render leaks the secret %q", s)
				}
			}
			var again bytes.Buffer
			Render(p, &again)
			if again.String() != buf.String() {
				t.Errorf("render is not deterministic")
			}
			checkGolden(t, strings.TrimSuffix(f, ".hcl")+".render", buf.String())
		})
	}
}
