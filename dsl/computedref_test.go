package dsl

import (
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// task.X[target.name] and task.X[h.name] in a for expression are references
// whose node is known only late: the node waits for every node of X and
// reads the right one.
func TestComputedTaskIndex(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `
group "all" {}
task "facts" {
  on = group.all.hosts
  run "ip" {
    command = "hostname -I"
  }
  output "ip" {
    value = trimspace(step.ip.stdout)
  }
}
task "use" {
  on = group.all.hosts
  file "mine" {
    destination = "/etc/mine"
    content     = task.facts[target.name].output.ip
  }
  file "all" {
    destination = "/etc/all"
    content     = join(",", [for h in group.all.hosts : task.facts[h.name].output.ip])
  }
}
`})
	p := mustLoad(t, dir, Options{Hosts: []string{"a,b"}})
	if got := depIDs(nodeByID(t, p, "use[a]")); got != "facts[a] facts[b]" {
		t.Fatalf("use[a] deps = %q, want every node of facts", got)
	}
	up := outputs{
		"facts[a]": {"ip": cty.StringVal("10.0.0.1")},
		"facts[b]": {"ip": cty.StringVal("10.0.0.2")},
	}
	ev, diags := p.Evaluator(nodeByID(t, p, "use[b]"), up)
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	for i, want := range []string{"10.0.0.2", "10.0.0.1,10.0.0.2"} {
		st, run, d := ev.Step(i)
		if d.HasErrors() {
			t.Fatal(diagText(d))
		}
		if !run || string(st.Content) != want {
			t.Errorf("step %d content = %q (run %v), want %q", i, st.Content, run, want)
		}
		ev.Record(i, StepResult{Changed: true})
	}
}
