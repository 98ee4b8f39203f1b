package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts/hoststest"
)

// roll makes task's nodes in g a rolling task of size hosts per batch, as
// the dsl does for serial = size.
func roll(g *tGraph, task string, size, maxFail int) {
	var nodes []*dsl.Node
	for _, n := range g.nodes {
		if n.Task == task {
			nodes = append(nodes, n)
		}
	}
	r := &dsl.Rolling{Serial: fmt.Sprint(size), Size: size, Batches: (len(nodes) + size - 1) / size, MaxFailPercentage: maxFail}
	for i, n := range nodes {
		n.Rolling, n.Batch = r, i/size
	}
}

// trace records "start h" and "end h" of every command, in order.
type trace struct {
	mu  sync.Mutex
	evs []string
}

func (tr *trace) handler(host string, fail map[string]bool) hoststest.FakeHandler {
	return func(ctx context.Context, r *hoststest.FakeRun) error {
		tr.add("start " + host + " " + r.Cmd)
		time.Sleep(20 * time.Millisecond) // long enough for a wrongly started batch to overlap
		tr.add("end " + host + " " + r.Cmd)
		if fail[host] && r.Cmd == "restart" {
			return hoststest.FakeExit(1, "restart failed on "+host)
		}
		return nil
	}
}

func (tr *trace) add(s string) {
	tr.mu.Lock()
	tr.evs = append(tr.evs, s)
	tr.mu.Unlock()
}

func (tr *trace) index(s string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i, e := range tr.evs {
		if e == s {
			return i
		}
	}
	return -1
}

func rollingLab(names []string, fail map[string]bool) (*lab, *trace) {
	l := newLab(names...)
	tr := &trace{}
	for _, h := range names {
		l.host(h).Handler = tr.handler(h, fail)
	}
	return l, tr
}

// Batches run one after the other in the order of the task's hosts: every
// node of a batch ends before any node of the next one starts, and the
// nodes of one batch run together.
func TestRollingBatchesRunInOrder(t *testing.T) {
	names := []string{"h1", "h2", "h3", "h4", "h5"}
	l, tr := rollingLab(names, nil)
	g := newGraph(&tTask{name: "R", hosts: names, steps: []tStep{runStep("restart", "restart")}})
	roll(g, "R", 2, 0)
	sum, _ := runGraph(t, context.Background(), g, l, Options{Parallel: 64, PerHost: 10})
	if sum.Failed != 0 || sum.Changed != 5 {
		t.Fatalf("summary: failed %d changed %d, want 0 and 5", sum.Failed, sum.Changed)
	}
	batches := [][]string{{"h1", "h2"}, {"h3", "h4"}, {"h5"}}
	for b := 1; b < len(batches); b++ {
		for _, prev := range batches[b-1] {
			for _, next := range batches[b] {
				end, start := tr.index("end "+prev+" restart"), tr.index("start "+next+" restart")
				if end < 0 || start < 0 || start < end {
					t.Errorf("%s (batch %d) started before %s (batch %d) ended: %v", next, b+1, prev, b, tr.evs)
				}
			}
		}
	}
	// The two nodes of the first batch overlap: a batch is not run one by one.
	if s2, e1 := tr.index("start h2 restart"), tr.index("end h1 restart"); s2 > e1 {
		t.Errorf("h2 started after h1 ended: batch 1 did not run together: %v", tr.evs)
	}
}

// A failure in a batch (max_fail_percentage 0) stops the later batches:
// their nodes are skipped with the reason, and so are their dependants;
// the rest of the failed batch, and the dependants of its good nodes, go on.
func TestRollingFailureStopsLaterBatches(t *testing.T) {
	names := []string{"h1", "h2", "h3", "h4", "h5"}
	l, tr := rollingLab(names, map[string]bool{"h2": true})
	g := newGraph(
		&tTask{name: "R", hosts: names, steps: []tStep{runStep("restart", "restart")}},
		&tTask{name: "B", hosts: names, deps: []string{"R"}, steps: []tStep{runStep("check", "check")}},
	)
	roll(g, "R", 2, 0)
	sum, rec := runGraph(t, context.Background(), g, l, Options{Parallel: 64, PerHost: 10})
	if sum.Failed != 1 {
		t.Fatalf("failed %d, want 1 (R[h2])", sum.Failed)
	}
	for _, h := range []string{"h3", "h4", "h5"} {
		if i := tr.index("start " + h + " restart"); i >= 0 {
			t.Errorf("R ran on %s after batch 1 failed: %v", h, tr.evs)
		}
		ev := rec.node(t, "R["+h+"]")
		want := "not started: rolling task R stopped after batch 1 of 3: 1 of its 2 nodes did not succeed (max_fail_percentage 0)"
		if ev.Status != StatusSkipped || ev.Reason != want {
			t.Errorf("R[%s]: %s %q, want skipped %q", h, ev.Status, ev.Reason, want)
		}
		dep := rec.node(t, "B["+h+"]")
		if dep.Status != StatusSkipped || dep.Reason != "dependency R["+h+"] skipped" {
			t.Errorf("B[%s]: %s %q, want skipped because R[%s] was", h, dep.Status, dep.Reason, h)
		}
	}
	if got := rec.node(t, "B[h1]").Status; got != StatusChanged {
		t.Errorf("B[h1] (after a good node of the failed batch) is %s, want changed", got)
	}
	reasons := map[string]string{}
	for _, s := range sum.Stopped {
		reasons[s.Node] = s.Reason
	}
	for _, id := range []string{"R[h3]", "R[h4]", "R[h5]", "B[h2]", "B[h3]"} {
		if reasons[id] == "" {
			t.Errorf("summary's stopped nodes lack %s: %+v", id, sum.Stopped)
		}
	}
	if !strings.Contains(reasons["R[h5]"], "rolling task R stopped after batch 1") {
		t.Errorf("summary reason for R[h5] = %q", reasons["R[h5]"])
	}
}

// max_fail_percentage is exceeded, not reached, as Ansible's: 1 failure in
// a batch of 2 is 50%, which max_fail_percentage 50 allows; 2 of 2 is not.
func TestRollingMaxFailPercentage(t *testing.T) {
	names := []string{"h1", "h2", "h3", "h4", "h5", "h6"}
	l, tr := rollingLab(names, map[string]bool{"h1": true, "h3": true, "h4": true})
	g := newGraph(&tTask{name: "R", hosts: names, steps: []tStep{runStep("restart", "restart")}})
	roll(g, "R", 2, 50)
	sum, rec := runGraph(t, context.Background(), g, l, Options{Parallel: 64, PerHost: 10})
	if sum.Failed != 3 {
		t.Fatalf("failed %d, want 3 (h1, h3, h4)", sum.Failed)
	}
	if tr.index("start h3 restart") < 0 {
		t.Errorf("batch 2 did not run after 1 of 2 failed with max_fail_percentage 50: %v", tr.evs)
	}
	for _, h := range []string{"h5", "h6"} {
		if tr.index("start "+h+" restart") >= 0 {
			t.Errorf("batch 3 ran on %s after 2 of 2 failed in batch 2", h)
		}
		if ev := rec.node(t, "R["+h+"]"); !strings.Contains(ev.Reason, "stopped after batch 2 of 3: 2 of its 2 nodes") {
			t.Errorf("R[%s] reason %q", h, ev.Reason)
		}
	}
}

// A node of a batch skipped because its own dependency failed counts as
// not succeeded; a later batch still waits for that batch to end even
// when its own nodes were ready long before.
func TestRollingSkippedNodeCountsAsFailure(t *testing.T) {
	names := []string{"h1", "h2", "h3"}
	l := newLab(names...)
	tr := &trace{}
	for _, h := range names {
		h := h
		l.host(h).Handler = func(ctx context.Context, r *hoststest.FakeRun) error {
			tr.add("start " + h + " " + r.Cmd)
			if r.Cmd == "prep" && h == "h1" {
				return hoststest.FakeExit(3, "prep failed")
			}
			return nil
		}
	}
	g := newGraph(
		&tTask{name: "P", hosts: names, steps: []tStep{runStep("prep", "prep")}},
		&tTask{name: "R", hosts: names, deps: []string{"P"}, steps: []tStep{runStep("restart", "restart")}},
	)
	roll(g, "R", 1, 0)
	_, rec := runGraph(t, context.Background(), g, l, Options{Parallel: 64, PerHost: 10})
	if ev := rec.node(t, "R[h1]"); ev.Status != StatusSkipped {
		t.Fatalf("R[h1] %s, want skipped (P[h1] failed)", ev.Status)
	}
	for _, h := range []string{"h2", "h3"} {
		if tr.index("start "+h+" restart") >= 0 {
			t.Errorf("R ran on %s after batch 1 (R[h1]) did not succeed", h)
		}
		if ev := rec.node(t, "R["+h+"]"); !strings.Contains(ev.Reason, "rolling task R stopped after batch 1 of 3") {
			t.Errorf("R[%s] reason %q", h, ev.Reason)
		}
	}
}

// --limit leaves nodes out of their batches without renumbering them: a
// batch with no selected node is passed over.
func TestRollingWithLimit(t *testing.T) {
	names := []string{"h1", "h2", "h3", "h4"}
	l, tr := rollingLab(names, nil)
	g := newGraph(&tTask{name: "R", hosts: names, steps: []tStep{runStep("restart", "restart")}})
	roll(g, "R", 1, 0)
	sum, _ := runGraph(t, context.Background(), g, l, Options{Parallel: 64, PerHost: 10, Limit: []string{"h2", "h4"}})
	if sum.Changed != 2 || sum.Failed != 0 {
		t.Fatalf("summary: changed %d failed %d, want 2 and 0", sum.Changed, sum.Failed)
	}
	if e, s := tr.index("end h2 restart"), tr.index("start h4 restart"); e < 0 || s < e {
		t.Errorf("h4 did not wait for h2: %v", tr.evs)
	}
}
