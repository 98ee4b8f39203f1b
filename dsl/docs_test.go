package dsl

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var hclFence = regexp.MustCompile("(?s)```hcl\n(.*?)```")

// Every ```hcl example of docs/language.md is a complete plan that loads
// as written (with the -H flags of its "# -H" lines) and renders.
func TestLanguageDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := hclFence.FindAllSubmatch(doc, -1)
	if len(blocks) < 15 {
		t.Fatalf("found %d hcl examples, want at least 15", len(blocks))
	}
	for i, b := range blocks {
		src := string(b[1])
		first := strings.SplitN(src, "\n", 2)[0]
		t.Run(first, func(t *testing.T) {
			dir := writePlan(t, map[string]string{
				"plan.hcl":                       src,
				"templates/motd.tpl":             "Welcome to ${name}\n",
				"files/setup.sh":                 "echo setup\n",
				"templates/openssl.cnf":          "ip = ${ip}\n",
				"templates/bootstrap.kubeconfig": "token: ${token}\n",
			})
			file := filepath.Join(dir, "plan.hcl")
			p, diags := Load([]string{file}, optionsFromHeader(t, file))
			if diags.HasErrors() {
				t.Fatalf("example %d does not load:\n%s\n%s", i+1, src, diagText(diags))
			}
			var buf bytes.Buffer
			if d := Render(p, &buf); d.HasErrors() {
				t.Fatalf("example %d does not render: %s", i+1, diagText(d))
			}
			for _, s := range p.Secrets() {
				if strings.Contains(buf.String(), s) {
					t.Errorf("example %d: render shows a secret", i+1)
				}
			}
		})
	}
}

// Every function a plan may call is listed in docs/language.md.
func TestLanguageDocListsEveryFunction(t *testing.T) {
	doc, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range FunctionNames() {
		if !strings.Contains(string(doc), "`"+name+"`") && !strings.Contains(string(doc), "`"+name+"(") {
			t.Errorf("function %s is not documented in docs/language.md", name)
		}
	}
}
