package dsl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// fuzzSecret is the value of the sensitive variable every fuzzed plan
// can use (var.fuzz_secret): unique, so that finding it, or a piece of
// it, in a diagnostic or in render output is a leak.
const fuzzSecret = "Zq7xKw9Vb3Jm"

// fuzzInputBound bounds the time one fuzzed plan may take.
const fuzzInputBound = 20 * time.Second

// fuzzOther has the shape of fuzzSecret (length, kinds of characters):
// the same plan loaded with it must give the same diagnostics, or a
// diagnostic depends on the characters of the secret (jsondecode's
// "invalid character 'Z'" shows one, which no substring check can find).
const fuzzOther = "Yr8wLe2Nc4Hk"

func fuzzSecretFile(value string) []byte {
	return []byte(`variable "fuzz_secret" {
  type      = string
  default   = "` + value + `"
  sensitive = true
}
`)
}

// FuzzLoad feeds arbitrary plan text through the whole static phase, the
// offline type check, Render and a run-mode Evaluator of every node: none
// of it may panic, and no diagnostic and no render output may show the
// sensitive value of var.fuzz_secret, whole or in pieces (function errors
// included). The corpus of testdata/fuzz/FuzzLoad holds inputs that use
// the secret in many ways; the seeds below add the test plans.
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
		// A plan that keeps the loader busy this long is a bug of its own
		// (the loader is bounded); crash with every stack to show where.
		watchdog := time.AfterFunc(fuzzInputBound, func() {
			debug.SetTraceback("all")
			panic(fmt.Sprintf("one input took more than %v: %q", fuzzInputBound, src))
		})
		defer watchdog.Stop()
		fsys := fstest.MapFS{
			"p/plan.hcl":              {Data: src},
			"p/secret.hcl":            {Data: fuzzSecretFile(fuzzSecret)},
			"p/templates/openssl.cnf": {Data: []byte("ip = ${ip}\n")},
			"p/t.tpl":                 {Data: []byte("${x}")},
		}
		other := fstest.MapFS{}
		for k, v := range fsys {
			other[k] = v
		}
		other["p/secret.hcl"] = &fstest.MapFile{Data: fuzzSecretFile(fuzzOther)}
		// Without -H: the unbound groups and the placeholder check.
		p0, d0 := Load([]string{"p"}, Options{FS: fsys})
		if p0 == nil {
			t.Fatal("Load without -H returned a nil plan")
		}
		leak := leakChecker(t, string(src))
		leak("Load without -H", d0)
		_, od0 := Load([]string{"p"}, Options{FS: other})
		sameDiagnostics(t, string(src), d0, od0)
		// Then with hosts in the plan's own groups (so that most inputs
		// get nodes), in the forms -H takes.
		hostArgs := []string{"h1"}
		forms := []string{"w1,admin@w2:2222", "web1,[::1]:2200", "vagrant:m1"}
		for i, g := range p0.Groups() {
			if i > 0 && i <= len(forms) {
				hostArgs = append(hostArgs, g+"="+forms[i-1])
			}
		}
		p, diags := Load([]string{"p"}, Options{FS: fsys, Hosts: hostArgs, Vars: []string{"x=1"}})
		if p == nil {
			t.Fatal("Load returned a nil plan")
		}
		leak("Load", diags)
		_, odiags := Load([]string{"p"}, Options{FS: other, Hosts: hostArgs, Vars: []string{"x=1"}})
		sameDiagnostics(t, string(src), diags, odiags)
		if diags.HasErrors() {
			return
		}
		var buf bytes.Buffer
		leak("Render", Render(p, &buf))
		leak("render output", hcl.Diagnostics{{Summary: buf.String()}})
		up := fuzzUpstream{p: p}
		for _, n := range p.Nodes() {
			ev, d := p.Evaluator(n, up)
			leak("Evaluator", d)
			if d.HasErrors() {
				continue
			}
			_, d = ev.When()
			leak("When", d)
			for i := 0; i < ev.Len(); i++ {
				_, _, d := ev.Step(i)
				leak("Step", d)
				ev.Record(i, StepResult{Stdout: "out", Content: []byte("c")})
			}
			_, d = ev.Outputs()
			leak("Outputs", d)
			ev.Secrets()
			ev.Fingerprint()
		}
	})
}

// leakChecker returns a function that fails the test when a diagnostic's
// summary or detail shows fuzzSecret or a 4-character piece of it. A piece
// the plan text itself contains is not a leak (the diagnostic may quote
// the source), and neither is anything once the plan calls nonsensitive
// (it removes the protection on purpose).
func leakChecker(t *testing.T, src string) func(string, hcl.Diagnostics) {
	if strings.Contains(src, "nonsensitive") {
		return func(string, hcl.Diagnostics) {}
	}
	var pieces []string
	for i := 0; i+4 <= len(fuzzSecret); i++ {
		if piece := fuzzSecret[i : i+4]; !strings.Contains(src, piece) {
			pieces = append(pieces, piece)
		}
	}
	return func(where string, diags hcl.Diagnostics) {
		t.Helper()
		for _, d := range diags {
			for _, text := range []string{d.Summary, d.Detail} {
				for _, piece := range pieces {
					if strings.Contains(text, piece) {
						t.Fatalf("%s shows %q of the sensitive value:\n%s", where, piece, text)
					}
				}
			}
		}
	}
}

// sameDiagnostics fails when a diagnostic at one place, with one summary,
// says something else when only the secret's characters changed.
func sameDiagnostics(t *testing.T, src string, a, b hcl.Diagnostics) {
	t.Helper()
	if strings.Contains(src, "nonsensitive") {
		return
	}
	key := func(d *hcl.Diagnostic) string {
		k := d.Summary
		if d.Subject != nil {
			k += "@" + d.Subject.String()
		}
		return k
	}
	details := map[string]map[string]bool{}
	for _, d := range b {
		if details[key(d)] == nil {
			details[key(d)] = map[string]bool{}
		}
		details[key(d)][d.Detail] = true
	}
	for _, d := range a {
		got, ok := details[key(d)]
		if ok && !got[d.Detail] {
			t.Fatalf("a diagnostic depends on the sensitive value's characters:\n%s: %s\nwith another value it says:\n%v", d.Summary, d.Detail, got)
		}
	}
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
