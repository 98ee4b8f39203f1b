package dsl

import "testing"

// `changed = false` on a run or script step marks it read-only; the default
// is a change; a file step does not take the attribute.
func TestStepChangedAttribute(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `
group "all" {}
task "t" {
  on = group.all.hosts
  run "look" {
    command = "uname -a"
    changed = false
  }
  script "check" {
    content = "true"
    changed = var.check_changes
  }
  run "do" {
    command = "touch /x"
  }
}
variable "check_changes" {
  type    = bool
  default = false
}
`})
	p := mustLoad(t, dir, Options{Hosts: []string{"a"}})
	ev, diags := p.Evaluator(nodeByID(t, p, "t[a]"), outputs{})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	for i, want := range []bool{true, true, false} {
		st, _, d := ev.Step(i)
		if d.HasErrors() {
			t.Fatal(diagText(d))
		}
		if st.ReadOnly != want {
			t.Errorf("step %s ReadOnly = %v, want %v", st.Name, st.ReadOnly, want)
		}
		ev.Record(i, StepResult{})
	}

	bad := writePlan(t, map[string]string{"plan.hcl": `
task "t" {
  on = []
  file "f" {
    destination = "/x"
    content     = "x"
    changed     = false
  }
}
`})
	if _, diags := Load([]string{bad}, Options{}); !diags.HasErrors() {
		t.Error("a file step with `changed` loaded without error")
	}
}
