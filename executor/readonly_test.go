package executor

import (
	"context"
	"testing"

	"github.com/plan-dev/plan/dsl"
)

// A run step with `changed = false` (ReadOnly) runs but is not a change; the
// node is ok unless another step changed something.
func TestReadOnlyStepIsNotAChange(t *testing.T) {
	l := newLab("h1")
	readOnly := func(name, cmd string) tStep {
		return tStep{name: name, kind: dsl.StepRun, build: func(*tEval) *dsl.Step {
			return &dsl.Step{Kind: dsl.StepRun, Name: name, Command: cmd, ReadOnly: true}
		}}
	}
	g := newGraph(
		&tTask{name: "facts", hosts: []string{"h1"}, steps: []tStep{readOnly("detect", "uname -a")}},
		&tTask{name: "work", hosts: []string{"h1"}, steps: []tStep{readOnly("look", "true"), runStep("do", "touch x")}},
	)
	sum, _ := runGraph(t, context.Background(), g, l, Options{})
	if sum.OK != 1 || sum.Changed != 1 {
		t.Fatalf("ok %d changed %d, want facts ok and work changed", sum.OK, sum.Changed)
	}
	if got := l.cmds("h1"); len(got) != 3 {
		t.Errorf("commands run %q, want all three", got)
	}
}
