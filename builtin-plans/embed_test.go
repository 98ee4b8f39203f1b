package builtinplans_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	builtinplans "github.com/plan-dev/plan/builtin-plans"
	"github.com/plan-dev/plan/dsl"
)

// Every built-in plan must validate, with representative -H bindings: one
// host on the first group (bare -H), and two hosts on every group.
func TestEveryBuiltinPlanValidates(t *testing.T) {
	plans := builtinplans.List()
	if len(plans) == 0 {
		t.Fatal("no built-in plans")
	}
	for _, bp := range plans {
		t.Run(bp.Name, func(t *testing.T) {
			if bp.Description == "" {
				t.Errorf("plan %s has no description (a # comment at the top of its first .hcl file)", bp.Name)
			}
			probe, _ := dsl.Load([]string{bp.Name}, dsl.Options{FS: builtinplans.FS()})
			groups := probe.Groups()
			bindings := [][]string{nil}
			if len(groups) > 0 {
				bindings = append(bindings, []string{"first-host"})
				var all []string
				for _, g := range groups {
					all = append(all, fmt.Sprintf("%s=%s-1,%s-2", g, g, g))
				}
				bindings = append(bindings, all)
			}
			for _, hosts := range bindings {
				p, diags := dsl.Load([]string{bp.Name}, dsl.Options{FS: builtinplans.FS(), Hosts: hosts})
				if diags.HasErrors() {
					var msgs []string
					for _, d := range diags {
						msgs = append(msgs, d.Error())
					}
					t.Fatalf("-H %v:\n%s", hosts, strings.Join(msgs, "\n"))
				}
				var buf bytes.Buffer
				if d := dsl.Render(p, &buf); d.HasErrors() {
					t.Errorf("-H %v: render: %v", hosts, d)
				}
				for _, s := range p.Secrets() {
					if strings.Contains(buf.String(), s) {
						t.Errorf("-H %v: render shows a secret", hosts)
					}
				}
			}
		})
	}
}

func TestLookupAndFiles(t *testing.T) {
	for _, name := range []string{"hello", "hello.hcl", "hello/"} {
		if p, ok := builtinplans.Lookup(name); !ok || p.Name != "hello" {
			t.Errorf("Lookup(%q) = %v, %v", name, p, ok)
		}
	}
	if _, ok := builtinplans.Lookup("no-such-plan"); ok {
		t.Errorf("Lookup found a plan that does not exist")
	}
	files := builtinplans.Files("hello")
	want := []string{"hello/files/report.sh", "hello/hello.hcl", "hello/templates/motd.tpl"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("Files(hello) = %v, want %v", files, want)
	}
	for _, f := range files {
		if _, err := fs.ReadFile(builtinplans.FS(), f); err != nil {
			t.Errorf("read %s: %v", f, err)
		}
	}
}
