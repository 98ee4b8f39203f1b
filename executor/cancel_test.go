package executor

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plan-dev/plan/hosts/hoststest"
)

func TestCancelStopsNewNodesAndEndsRunningOnes(t *testing.T) {
	l := newLab("h1", "h2")
	started := make(chan struct{})
	remoteEnded := make(chan struct{})
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "long" {
			close(started)
			<-ctx.Done() // the transport ends the remote process
			close(remoteEnded)
			return ctx.Err()
		}
		return nil
	})
	g := newGraph(
		&tTask{name: "quick", hosts: []string{"h2"}, steps: []tStep{runStep("q", "quick")}},
		&tTask{name: "long", hosts: []string{"h1"}, deps: []string{"quick"}, steps: []tStep{runStep("l", "long")}},
		&tTask{name: "after", hosts: []string{"h1"}, deps: []string{"long"}, steps: []tStep{runStep("a", "after")}},
	)
	state, _ := OpenState(filepath.Join(t.TempDir(), "state.json"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	sum, rec := runGraph(t, ctx, g, l, Options{State: state})
	waitFor(t, remoteEnded, "the running command to end")
	if !sum.Interrupted || sum.ExitCode() != ExitInterrupted {
		t.Errorf("interrupted %v exit %d", sum.Interrupted, sum.ExitCode())
	}
	if got := rec.node(t, "long[h1]"); got.Status != StatusFailed || !strings.Contains(got.Error, "interrupted") {
		t.Errorf("long: %s %q", got.Status, got.Error)
	}
	if got := rec.node(t, "after[h1]"); got.Status != StatusSkipped {
		t.Errorf("after: %s", got.Status)
	}
	for _, c := range l.cmds("h1") {
		if c == "after" {
			t.Error("after ran despite the interrupt")
		}
	}
	if !strings.Contains(readFile(t, state.Path()), "quick[h2]") {
		t.Error("state lost the node that succeeded before the interrupt")
	}
	last := rec.all()[len(rec.all())-1]
	if last.Kind != EventRunFinished || last.Summary == nil {
		t.Errorf("last event %v, want run_finished with summary", last.Kind)
	}
}
