package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/plan-dev/plan/hosts/hoststest"
)

// An always_run node is never up to date from the run state: it runs on
// every run (checking, say, that a token is still valid). Its dependants
// stay up to date while its outputs do not change, and run again when they
// do.
func TestAlwaysRunNodeRunsEveryTime(t *testing.T) {
	dir := t.TempDir()
	var token atomic.Value
	token.Store("t1")
	l := newLab("h1", "h2")
	l.host("h1").Handler = func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "make-token" {
			fmt.Fprintln(r.Stdout, token.Load().(string))
		}
		return nil
	}
	g := resumeGraph(new(atomic.Bool))
	for _, n := range g.nodes {
		if n.Task == "token" {
			n.AlwaysRun = true
		}
	}
	st := func() *State { s, _ := OpenState(filepath.Join(dir, "s.json")); return s }
	runGraph(t, context.Background(), g, l, Options{State: st()})

	sum, rec := runGraph(t, context.Background(), g, l, Options{State: st()})
	if got := rec.node(t, "token[h1]").Status; got == StatusUpToDate {
		t.Fatalf("second run: token[h1] is up to date, want it run (always_run)")
	}
	if sum.UpToDate != 2 {
		t.Errorf("second run, same token: %d nodes up to date, want 2 (use and last)", sum.UpToDate)
	}
	if n := strings.Count(strings.Join(l.cmds("h1"), ","), "make-token"); n != 2 {
		t.Errorf("make-token ran %d times in two runs, want 2", n)
	}

	token.Store("t2")
	sum, rec = runGraph(t, context.Background(), g, l, Options{State: st()})
	if got := rec.node(t, "use[h2]").Status; got != StatusChanged {
		t.Errorf("third run, new token: use[h2] is %s, want changed (its input changed)", got)
	}
	if sum.UpToDate != 1 {
		t.Errorf("third run: %d up to date, want 1 (last)", sum.UpToDate)
	}
}
