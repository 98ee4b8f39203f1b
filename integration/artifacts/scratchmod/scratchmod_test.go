package scratchmod

import (
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
