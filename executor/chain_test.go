package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/plan-dev/plan/hosts/hoststest"
)

// A host that was reset or reinstalled answers its facts differently: every
// node after them on that host must run again, also those that read none of
// their outputs (they depend on what the earlier nodes did to the host).
// Nodes on other hosts, and nodes that depend on the changed host only from
// another host without reading its outputs, stay up to date.
func TestChangedUpstreamOnTheHostRunsItsDependantsAgain(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	ids := map[string]string{"h1": "install-1", "h2": "install-1"}
	l := newLab("h1", "h2")
	for _, h := range []string{"h1", "h2"} {
		l.host(h).Handler = func(ctx context.Context, r *hoststest.FakeRun) error {
			if r.Cmd == "read-id" {
				mu.Lock()
				fmt.Fprintln(r.Stdout, ids[h])
				mu.Unlock()
			}
			return nil
		}
	}
	idOutput := func(e *tEval) map[string]cty.Value {
		return map[string]cty.Value{"id": cty.StringVal(e.results[0].Stdout)}
	}
	g := newGraph(
		&tTask{name: "facts", hosts: []string{"h1", "h2"}, steps: []tStep{runStep("id", "read-id")}, outputs: idOutput},
		&tTask{name: "prep", hosts: []string{"h1", "h2"}, deps: []string{"facts"}, readsNothing: true, steps: []tStep{runStep("p", "prep")}},
		&tTask{name: "after", hosts: []string{"h1", "h2"}, deps: []string{"prep"}, readsNothing: true, steps: []tStep{runStep("a", "after")}},
		&tTask{name: "lead", hosts: []string{"h1"}, steps: []tStep{runStep("id", "read-id")}, outputs: idOutput},
		&tTask{name: "join", hosts: []string{"h2"}, deps: []string{"lead"}, readsNothing: true, steps: []tStep{runStep("j", "join")}},
	)
	for _, n := range g.nodes {
		n.AlwaysRun = n.Task == "facts" || n.Task == "lead"
	}
	st := func() *State {
		s, err := OpenState(filepath.Join(dir, "s.json"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	runGraph(t, context.Background(), g, l, Options{State: st()})

	_, rec := runGraph(t, context.Background(), g, l, Options{State: st()})
	for _, id := range []string{"prep[h1]", "prep[h2]", "after[h1]", "after[h2]", "join[h2]"} {
		if got := rec.node(t, id).Status; got != StatusUpToDate {
			t.Errorf("second run, nothing changed: %s is %s, want up to date", id, got)
		}
	}

	mu.Lock()
	ids["h1"] = "install-2" // h1 was reset and set up anew
	mu.Unlock()
	_, rec = runGraph(t, context.Background(), g, l, Options{State: st()})
	for _, id := range []string{"prep[h1]", "after[h1]"} {
		if got := rec.node(t, id).Status; got == StatusUpToDate {
			t.Errorf("third run, h1 reset: %s is up to date, want it run again", id)
		}
	}
	for _, id := range []string{"prep[h2]", "after[h2]", "join[h2]"} {
		if got := rec.node(t, id).Status; got != StatusUpToDate {
			t.Errorf("third run, h1 reset: %s is %s, want up to date (h2 is as it was)", id, got)
		}
	}

	_, rec = runGraph(t, context.Background(), g, l, Options{State: st()})
	for _, id := range []string{"prep[h1]", "after[h1]"} {
		if got := rec.node(t, id).Status; got != StatusUpToDate {
			t.Errorf("fourth run, h1 as in the third: %s is %s, want up to date", id, got)
		}
	}
}
