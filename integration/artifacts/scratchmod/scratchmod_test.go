package scratchmod

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGoModAndToolsFile(t *testing.T) {
	m := Module{
		Path:      "plan-artifacts/example",
		GoVersion: "1.26",
		Require:   map[string]string{"k8s.io/kubernetes": "v1.36.3"},
		Replace:   map[string]string{"k8s.io/api": "k8s.io/api v0.36.3"},
		Mains:     []string{"k8s.io/kubernetes/cmd/kubelet", "plan-artifacts/example/cmd/own"},
	}
	mod := m.GoMod()
	for _, want := range []string{"module plan-artifacts/example\n", "go 1.26\n", "\tk8s.io/kubernetes v1.36.3\n", "\tk8s.io/api => k8s.io/api v0.36.3\n"} {
		if !strings.Contains(mod, want) {
			t.Errorf("go.mod lacks %q:\n%s", want, mod)
		}
	}
	tools := m.ToolsFile()
	if !strings.Contains(tools, `_ "k8s.io/kubernetes/cmd/kubelet"`) {
		t.Errorf("tools file does not import kubelet:\n%s", tools)
	}
	if strings.Contains(tools, "cmd/own") {
		t.Errorf("tools file imports the module's own package:\n%s", tools)
	}
	if !strings.HasPrefix(tools, "//go:build tools\n") {
		t.Errorf("tools file is not behind the tools tag:\n%s", tools)
	}
}

// TestPrepareRewritesChangedFiles checks the warm path's rule: unchanged → untouched (no go
// command needed, which this test could not run offline); a changed extra file → rewritten.
func TestPrepareRewritesChangedFiles(t *testing.T) {
	dir := t.TempDir()
	m := Module{Path: "plan-artifacts/t", GoVersion: "1.26", Mains: []string{"plan-artifacts/t"},
		Files: map[string]string{"main.go": "package main\n\nfunc main() {}\n"}}
	// A module with no requirements: tidy needs no network and writes no go.sum, so give it
	// one to mark the module prepared.
	if err := m.Prepare(context.Background(), Env{GoCache: t.TempDir(), GoModCache: t.TempDir()}, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Prepare(context.Background(), Env{}, dir); err != nil {
		t.Fatalf("warm Prepare: %v", err)
	}
	// A cold Prepare removes go.sum before tidying (and tidy writes none here): its presence
	// shows the warm path did nothing.
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err != nil {
		t.Errorf("warm Prepare redid the module: %v", err)
	}
	m.Files["main.go"] = "package main\n\nfunc main() { println(1) }\n"
	if err := m.Prepare(context.Background(), Env{GoCache: t.TempDir(), GoModCache: t.TempDir()}, dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "main.go"))
	if err != nil || !strings.Contains(string(got), "println(1)") {
		t.Errorf("changed file not rewritten: %q, %v", got, err)
	}
}
