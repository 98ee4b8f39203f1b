package dsl

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/zclconf/go-cty/cty"
)

// FuzzLoad feeds arbitrary plan text through the whole static phase, the
// offline type check, Render and a run-mode Evaluator of every node: none
// of it may panic.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(pipelinePlan))
	f.Add([]byte("task \"a\" {\n on = []\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{
			"p/plan.hcl":              {Data: src},
			"p/templates/openssl.cnf": {Data: []byte("ip = ${ip}\n")},
			"p/t.tpl":                 {Data: []byte("${x}")},
		}
		p, diags := Load([]string{"p/plan.hcl"}, Options{
			FS:    fsys,
			Hosts: []string{"h1", "workers=w1,admin@w2:2222", "web=web1"},
			Vars:  []string{"x=1"},
		})
		if p == nil {
			t.Fatal("Load returned a nil plan")
		}
		if diags.HasErrors() {
			return
		}
		var buf bytes.Buffer
		Render(p, &buf)
		up := fuzzUpstream{p: p}
		for _, n := range p.Nodes() {
			ev, d := p.Evaluator(n, up)
			if d.HasErrors() {
				continue
			}
			ev.When()
			for i := 0; i < ev.Len(); i++ {
				ev.Step(i)
				ev.Record(i, StepResult{Stdout: "out", Content: []byte("c")})
			}
			ev.Outputs()
			ev.Secrets()
			ev.Fingerprint()
		}
	})
}

// fuzzUpstream gives every output the string "v": often the wrong type,
// which must give diagnostics, not panics.
type fuzzUpstream struct{ p *Plan }

func (u fuzzUpstream) Outputs(task, host string) (map[string]cty.Value, bool) {
	t, ok := u.p.taskByName[task]
	if !ok {
		return nil, false
	}
	out := map[string]cty.Value{}
	for _, o := range t.outputs {
		out[o.name] = cty.StringVal("v")
	}
	return out, true
}
