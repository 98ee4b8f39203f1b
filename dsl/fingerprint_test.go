package dsl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// referenceFingerprint is Fingerprint as it was before the static
// references were cached per task (a copy of the old code): every
// reference rendered per node, straight into the hash. The cached version
// must give the same digests, or every run state would be invalidated.
func referenceFingerprint(ev *evaluator) string {
	h := sha256.New()
	fmt.Fprintf(h, "task %s\x00%s\x00", ev.t.name, ev.t.srcHash)
	writeJSON := func(label string, v cty.Value) {
		v, _ = v.UnmarkDeep()
		b, err := ctyjson.Marshal(v, cty.DynamicPseudoType)
		if err != nil {
			b = []byte(v.GoString())
		}
		fmt.Fprintf(h, "%s=%s\x00", label, b)
	}
	writeJSON("target", hostValue(ev.n.Host))
	statics := ev.p.staticVars()
	refs := map[string]cty.Value{}
	for _, tr := range ev.t.allTraversals() {
		root := tr.RootName()
		name, ok := attrAt(tr, 1)
		if !ok {
			continue
		}
		switch root {
		case "var", "local", "host", "group":
			obj := statics[root]
			if obj.Type().IsObjectType() && obj.Type().HasAttribute(name) {
				refs[root+"."+name] = obj.GetAttr(name)
			}
		}
	}
	for _, k := range sortedKeys(refs) {
		writeJSON(k, refs[k])
	}
	writeJSON("task", ev.taskVal)
	reads := ev.p.info[ev.n].reads
	for _, k := range sortedKeys(reads) {
		fmt.Fprintf(h, "file %s=%s\x00", k, reads[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestFingerprintCachedEqualsReference(t *testing.T) {
	plan := `
variable "v" {
  default = "a"
}
locals {
  l = "${var.v}-local"
}
group "all" {}
task "t" {
  on = group.all.hosts
  run "r" {
    command = "echo ${var.v} ${local.l} ${length(group.all.hosts)} ${target.name}"
  }
  file "f" {
    destination = "/etc/f"
    content     = templatefile("t.tpl", { v = var.v })
  }
}
task "u" {
  on = group.all.hosts
  run "r" {
    command = "echo ${target.name}"
  }
}
`
	dir := writePlan(t, map[string]string{"plan.hcl": plan, "t.tpl": "one ${v}"})
	var hostNames []string
	for i := range 6 {
		hostNames = append(hostNames, fmt.Sprintf("h%d", i))
	}
	p := mustLoad(t, dir, Options{Hosts: hostNames})
	if len(p.Nodes()) != 2*len(hostNames) {
		t.Fatalf("%d nodes, want %d", len(p.Nodes()), 2*len(hostNames))
	}
	seen := map[string]bool{}
	// Twice over: the second round reads the per-task cache the first
	// filled.
	for round := range 2 {
		for _, n := range p.Nodes() {
			ev, d := p.Evaluator(n, outputs{})
			if d.HasErrors() {
				t.Fatal(diagText(d))
			}
			got, want := ev.Fingerprint(), referenceFingerprint(ev.(*evaluator))
			if got != want {
				t.Errorf("round %d, %s: fingerprint %s, the uncached computation gives %s", round, n.ID, got, want)
			}
			if round == 0 {
				if seen[got] {
					t.Errorf("%s: fingerprint %s shared with another node", n.ID, got)
				}
				seen[got] = true
			}
		}
	}
}

// The digests of a fixed plan, pinned. The run state keys every success by
// its node's fingerprint: a change to what goes into it, or how, makes
// every user's next run repeat every node. If this test fails, the change
// must be deliberate (say so in the state's format notes), not a side
// effect. (File reads enter with their resolved path, so the pinned plan
// reads none: a temporary directory's name would vary.)
func TestFingerprintPinned(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `
variable "v" {
  default = "a"
}
group "all" {}
task "t" {
  on = group.all.hosts
  run "r" {
    command = "echo ${var.v} ${target.name}"
  }
  file "f" {
    destination = "/etc/f"
    content     = "one ${var.v}"
  }
}
`})
	p := mustLoad(t, dir, Options{Hosts: []string{"h0", "ops@h1:2222"}})
	want := map[string]string{
		"t[h0]": "0724a5a10b518e9dd829a78148f1ceb04a18b17dbd96eecff729fe40cbf68645",
		"t[h1]": "d35ab0b8aa2018fdd6e41fb65d7bf7c631784679139107e71ee379f6e119bdbb",
	}
	for _, n := range p.Nodes() {
		ev, d := p.Evaluator(n, outputs{})
		if d.HasErrors() {
			t.Fatal(diagText(d))
		}
		if got := ev.Fingerprint(); got != want[n.ID] {
			t.Errorf("%s: fingerprint %s, pinned %s", n.ID, got, want[n.ID])
		}
	}
}
