package dsl

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	hclFence  = regexp.MustCompile("(?s)```hcl\n(.*?)```")
	fileFence = regexp.MustCompile("(?s)```text file=(\\S+)\n(.*?)```")
)

// docExample is one ```hcl example of docs/language.md with the files
// shown next to it: the ```text file=PATH blocks of its section.
type docExample struct {
	src   string
	files map[string]string
}

// docExamples splits a document into its ## sections and returns every hcl
// example with the files its section shows.
func docExamples(doc string) []docExample {
	var out []docExample
	for _, sec := range regexp.MustCompile("(?m)^## ").Split(doc, -1) {
		files := map[string]string{}
		for _, m := range fileFence.FindAllStringSubmatch(sec, -1) {
			files[m[1]] = m[2]
		}
		for _, m := range hclFence.FindAllStringSubmatch(sec, -1) {
			out = append(out, docExample{src: m[1], files: files})
		}
	}
	return out
}

// Every ```hcl example of docs/language.md is a complete plan that loads
// as written (with the -H flags of its "# -H" lines) and renders, with no
// file but those its section shows (```text file=PATH blocks): a reader
// can copy the example and its files and get what the page says.
func TestLanguageDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := docExamples(string(doc))
	if len(examples) < 15 {
		t.Fatalf("found %d hcl examples, want at least 15", len(examples))
	}
	for i, ex := range examples {
		src := ex.src
		first := strings.SplitN(src, "\n", 2)[0]
		t.Run(first, func(t *testing.T) {
			files := map[string]string{"plan.hcl": src}
			for k, v := range ex.files {
				files[k] = v
			}
			dir := writePlan(t, files)
			file := filepath.Join(dir, "plan.hcl")
			p, diags := Load([]string{file}, optionsFromHeader(t, file))
			if diags.HasErrors() {
				t.Fatalf("example %d does not load:\n%s\n%s", i+1, src, diagText(diags))
			}
			for _, d := range diags {
				if d.Summary == "Local file not found" {
					t.Errorf("example %d uses a file its section does not show: %s", i+1, d.Detail)
				}
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
