package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dslCmd runs a plan subcommand in dir and returns its exit code, stdout
// and stderr.
func dslCmd(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	if dir != "" {
		old, _ := os.Getwd()
		if err := os.Chdir(dir); err != nil {
			t.Fatal(err)
		}
		defer os.Chdir(old)
	}
	var out, errb bytes.Buffer
	code := dispatch(args, &out, &errb)
	return code, out.String(), errb.String()
}

const dslCmdPlan = `variable "secret" {
  type      = string
  default   = "hunter2-very-secret"
  sensitive = true
}
group "web" {}
task "hello" {
  on = group.web.hosts
  run "say" {
    command = "echo ${var.secret} ${var.nope}"
  }
}
`

func writeDSLPlan(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plan.hcl"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateReportsDiagnosticsWithSnippet(t *testing.T) {
	dir := writeDSLPlan(t, dslCmdPlan)
	code, out, errs := dslCmd(t, dir, "validate", "plan.hcl", "-H", "web1")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2; stdout %q", code, out)
	}
	for _, want := range []string{
		"Error: Reference to undeclared variable",
		"on plan.hcl:10:37, in task \"hello\":",
		"10:     command = \"echo ${var.secret} ${var.nope}\"",
		"^^^^^^^^",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") {
		t.Errorf("stderr shows a Go stack:\n%s", errs)
	}
}

func TestDiagnosticsNeverShowSecrets(t *testing.T) {
	// A sensitive default of the wrong type: the error's snippet is the
	// very line that holds the secret.
	dir := writeDSLPlan(t, strings.Replace(dslCmdPlan, "type      = string", "type      = number", 1))
	code, _, errs := dslCmd(t, dir, "validate", "plan.hcl", "-H", "web1")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2:\n%s", code, errs)
	}
	if strings.Contains(errs, "hunter2") {
		t.Errorf("diagnostics show the secret:\n%s", errs)
	}
	if !strings.Contains(errs, "(sensitive)") {
		t.Errorf("the snippet should show (sensitive) in place of the secret:\n%s", errs)
	}
}

func TestValidateRenderGraphOK(t *testing.T) {
	dir := writeDSLPlan(t, strings.Replace(dslCmdPlan, " ${var.nope}", "", 1))
	code, out, errs := dslCmd(t, dir, "validate", "plan.hcl", "-H", "web1,web2")
	if code != exitOK || !strings.Contains(out, "2 nodes on 2 hosts") {
		t.Fatalf("validate: exit %d %q %q", code, out, errs)
	}
	code, out, _ = dslCmd(t, dir, "render", "-H", "web1", "plan.hcl")
	if code != exitOK || !strings.Contains(out, "--- run say\n(sensitive)\n") || strings.Contains(out, "hunter2") {
		t.Errorf("render: exit %d\n%s", code, out)
	}
	code, out, _ = dslCmd(t, dir, "graph", "plan.hcl", "-H", "web1", "--format", "mermaid", "--nodes", "hosts")
	if code != exitOK || !strings.Contains(out, "flowchart LR") || !strings.Contains(out, "hello[web1]") {
		t.Errorf("graph: exit %d\n%s", code, out)
	}
	if code, _, _ := dslCmd(t, dir, "graph", "plan.hcl", "--format", "png"); code != exitUsage {
		t.Errorf("graph --format png: exit %d, want 2", code)
	}
	if code, _, _ := dslCmd(t, dir, "validate", "plan.hcl", "--bogus"); code != exitUsage {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code, _, _ := dslCmd(t, dir, "validate", "plan.hcl", "-H", "nosuchgroup=h"); code != exitUsage {
		t.Errorf("unknown -H group: exit %d, want 2", code)
	}
}

func TestBuiltinPlanByName(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := dslCmd(t, dir, "validate", "hello.hcl", "-H", "h1")
	if code != exitOK || !strings.Contains(errs, "using built-in plan hello") {
		t.Fatalf("validate hello.hcl: exit %d %q %q", code, out, errs)
	}
	code, _, errs = dslCmd(t, dir, "validate", "no-such-plan.hcl")
	if code != exitUsage || !strings.Contains(errs, "no built-in plan") {
		t.Errorf("missing plan: exit %d %q", code, errs)
	}
	code, out, _ = dslCmd(t, dir, "builtin", "list")
	if code != exitOK || !strings.Contains(out, "hello ") {
		t.Errorf("builtin list: %d %q", code, out)
	}
	code, out, _ = dslCmd(t, dir, "builtin", "show", "hello")
	if code != exitOK || !strings.Contains(out, "# ==> hello/hello.hcl <==") || !strings.Contains(out, `task "greet"`) {
		t.Errorf("builtin show: %d %q", code, out)
	}
	if code, _, _ := dslCmd(t, dir, "builtin", "show", "nope"); code != exitUsage {
		t.Errorf("builtin show nope: exit %d", code)
	}

	code, _, errs = dslCmd(t, dir, "init", "hello")
	if code != exitOK {
		t.Fatalf("init: exit %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello", "templates", "motd.tpl")); err != nil {
		t.Errorf("init did not write templates: %v", err)
	}
	if code, _, errs := dslCmd(t, dir, "init", "hello"); code != exitUsage || !strings.Contains(errs, "already exists") {
		t.Errorf("init over an existing dir: exit %d %q", code, errs)
	}
	// The written copy is used, not the built-in (no "using built-in").
	code, _, errs = dslCmd(t, dir, "validate", "hello", "-H", "h1")
	if code != exitOK || strings.Contains(errs, "using built-in") {
		t.Errorf("validate the init copy: exit %d %q", code, errs)
	}
}

func TestFmt(t *testing.T) {
	dir := writeDSLPlan(t, "group \"g\" {}\ntask \"a\" {\non=group.g.hosts\n  run \"x\" {\ncommand=\"echo\"\n}\n}\n")
	path := filepath.Join(dir, "plan.hcl")
	before, _ := os.ReadFile(path)
	code, out, _ := dslCmd(t, dir, "fmt", "-check", "-diff", "plan.hcl")
	if code != exitFmtCheck || !strings.Contains(out, "-on=group.g.hosts") || !strings.Contains(out, "+  on = group.g.hosts") {
		t.Errorf("fmt -check -diff: exit %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("fmt -check wrote the file")
	}
	if code, out, _ := dslCmd(t, dir, "fmt", "."); code != exitOK || !strings.Contains(out, "plan.hcl") {
		t.Errorf("fmt: exit %d %q", code, out)
	}
	after, _ := os.ReadFile(path)
	if !strings.Contains(string(after), "  on = group.g.hosts\n") {
		t.Errorf("not formatted:\n%s", after)
	}
	if code, out, _ := dslCmd(t, dir, "fmt", "--check", "plan.hcl"); code != exitOK || out != "" {
		t.Errorf("fmt --check on a formatted file: exit %d %q", code, out)
	}
	bad := writeDSLPlan(t, "task {\n")
	if code, _, errs := dslCmd(t, bad, "fmt", "plan.hcl"); code != exitUsage || !strings.Contains(errs, "plan.hcl:") {
		t.Errorf("fmt of a broken file: exit %d %q", code, errs)
	}
}

func TestRenderFilters(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := dslCmd(t, dir, "render", "hello", "-H", "a,b", "--task", "greet", "--on", "b")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "=== greet[b]") || strings.Contains(out, "greet[a]") || strings.Contains(out, "facts[b] (node") {
		t.Errorf("filtered render:\n%s", out)
	}
	if code, _, _ := dslCmd(t, dir, "render", "hello", "-H", "a", "--on", "zz"); code != exitUsage {
		t.Errorf("unknown host filter: exit %d, want 2", code)
	}
}
