package dsl

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// At run time a for_each step is one step per key; later steps and
// outputs read each instance as step.NAME["key"].
func TestForEachStepsRun(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `group "web" {}
task "t" {
  on = group.web.hosts
  run "m" {
    for_each = { b = "2", a = "1" }
    command  = "echo ${each.key}=${each.value}"
  }
  run "after" {
    command = "echo ${step.m["a"].stdout}${step.m["b"].exit_code}"
  }
  output "keys" {
    value = join(",", [for k, s in step.m : "${k}:${s.stdout}"])
  }
}
`})
	p, diags := Load([]string{dir + "/plan.hcl"}, Options{Hosts: []string{"w1"}})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	ev, diags := p.Evaluator(p.Nodes()[0], fuzzUpstream{p: p})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	var names, cmds []string
	for i := 0; i < ev.Len(); i++ {
		st, run, d := ev.Step(i)
		if d.HasErrors() || !run {
			t.Fatalf("step %d: %v %s", i, run, diagText(d))
		}
		names = append(names, ev.StepName(i))
		cmds = append(cmds, st.Command)
		ev.Record(i, StepResult{Stdout: "out" + st.Name[len(st.Name)-3:len(st.Name)-2], ExitCode: 7})
	}
	want := []string{`m["a"]`, `m["b"]`, "after"}
	wantCmds := []string{"echo a=1", "echo b=2", "echo outa7"}
	for i := range want {
		if i >= len(names) || names[i] != want[i] || cmds[i] != wantCmds[i] {
			t.Fatalf("steps %q, commands %q; want %q, %q", names, cmds, want, wantCmds)
		}
	}
	outs, d := ev.Outputs()
	if d.HasErrors() {
		t.Fatal(diagText(d))
	}
	if got := outs["keys"]; !got.RawEquals(cty.StringVal("a:outa,b:outb")) {
		t.Errorf("keys = %#v", got)
	}
}

// A for_each task is one task per key: nodes TASK["key"][HOST], each.key
// in its body, and task.TASK["key"]["host"].output elsewhere, read from
// the upstream node of that instance.
func TestForEachTasksRun(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `group "web" {}
task "app" {
  for_each = { a = "1", b = "2" }
  on       = group.web.hosts
  run "x" {
    command = "echo ${each.key}=${each.value}"
  }
  output "o" {
    value = "${each.key}-${step.x.stdout}"
  }
}
task "use" {
  on = group.web.hosts
  run "y" {
    command = "echo ${task.app["a"].output.o} ${task.app["b"]["w1"].output.o}"
  }
}
`})
	p, diags := Load([]string{dir + "/plan.hcl"}, Options{Hosts: []string{"w1"}})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	var ids []string
	for _, n := range p.Nodes() {
		ids = append(ids, n.ID)
	}
	if got := strings.Join(ids, " "); got != `app["a"][w1] app["b"][w1] use[w1]` {
		t.Fatalf("nodes %s", got)
	}
	if got := strings.Join(p.Tasks(), " "); got != `app["a"] app["b"] use` {
		t.Errorf("tasks %s", got)
	}
	use := p.Nodes()[2]
	if len(use.Deps) != 2 {
		t.Errorf("use depends on %v", use.Deps)
	}
	ev, d := p.Evaluator(p.Nodes()[1], staticUpstream{})
	if d.HasErrors() {
		t.Fatal(diagText(d))
	}
	st, _, d := ev.Step(0)
	if d.HasErrors() || st.Command != "echo b=2" {
		t.Fatalf("%q %s", st.Command, diagText(d))
	}
	ev, d = p.Evaluator(use, staticUpstream{
		`app["a"]/w1`: {"o": cty.StringVal("A")},
		`app["b"]/w1`: {"o": cty.StringVal("B")},
	})
	if d.HasErrors() {
		t.Fatal(diagText(d))
	}
	st, _, d = ev.Step(0)
	if d.HasErrors() || st.Command != "echo A B" {
		t.Fatalf("%q %s", st.Command, diagText(d))
	}
}

type staticUpstream map[string]map[string]cty.Value

func (u staticUpstream) Outputs(task, host string) (map[string]cty.Value, bool) {
	o, ok := u[task+"/"+host]
	return o, ok
}
