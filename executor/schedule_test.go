package executor

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts/hoststest"
)

// B on h1 depends on A on h1 only: it must run while A on h2 is still
// going, and after A on h1.
func TestPerHostEdgesDoNotWaitForOtherHosts(t *testing.T) {
	l := newLab("h1", "h2")
	bOnH1Done := make(chan struct{})
	l.host("h1").Handler = func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "b" {
			close(bOnH1Done)
		}
		return nil
	}
	l.host("h2").Handler = func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "a" {
			// A on h2 is slow: it ends only once B on h1 has run.
			select {
			case <-bOnH1Done:
			case <-time.After(10 * time.Second):
				return hoststest.FakeExit(9, "B on h1 was held back by A on h2")
			}
		}
		return nil
	}
	g := newGraph(
		&tTask{name: "A", hosts: []string{"h1", "h2"}, steps: []tStep{runStep("a", "a")}},
		&tTask{name: "B", hosts: []string{"h1", "h2"}, deps: []string{"A"}, steps: []tStep{runStep("b", "b")}},
	)
	sum, _ := runGraph(t, context.Background(), g, l, Options{})
	if sum.Failed != 0 || sum.Changed != 4 {
		t.Fatalf("summary: failed %d changed %d, want 0 and 4: %+v", sum.Failed, sum.Changed, sum.Failures)
	}
	if got := strings.Join(l.cmds("h1"), ","); got != "a,b" {
		t.Errorf("h1 ran %q, want a,b", got)
	}
	if got := strings.Join(l.cmds("h2"), ","); got != "a,b" {
		t.Errorf("h2 ran %q, want a,b", got)
	}
}

// A task that does not run on a node's host: the node waits for all of it.
func TestCrossHostDependencyWaitsForAllNodes(t *testing.T) {
	l := newLab("h1", "h2", "h3")
	var mu sync.Mutex
	var order []string
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		mu.Lock()
		order = append(order, r.Cmd)
		mu.Unlock()
		return nil
	})
	g := newGraph(
		&tTask{name: "A", hosts: []string{"h1", "h2"}, steps: []tStep{runStep("a", "a")}},
		&tTask{name: "B", hosts: []string{"h3"}, deps: []string{"A"}, steps: []tStep{runStep("b", "b")}},
	)
	runGraph(t, context.Background(), g, l, Options{})
	if got := strings.Join(order, ","); got != "a,a,b" {
		t.Errorf("order %q, want a,a,b", got)
	}
}

// concurrency tracks how many handlers run at once.
type concurrency struct {
	now, peak atomic.Int32
}

func (c *concurrency) enter() {
	n := c.now.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// handler holds each command until want commands run together (or a
// bounded wait passes), so the peak reaches the bound when the scheduler
// allows it, and never goes over.
func (c *concurrency) handler(want int32) hoststest.FakeHandler {
	return func(ctx context.Context, r *hoststest.FakeRun) error {
		c.enter()
		defer c.now.Add(-1)
		deadline := time.Now().Add(5 * time.Second)
		for c.peak.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return nil
	}
}

func TestPerHostBound(t *testing.T) {
	l := newLab("h1")
	var c concurrency
	l.handle(c.handler(3))
	var tasks []*tTask
	for i := 0; i < 12; i++ {
		tasks = append(tasks, &tTask{name: "t" + string(rune('a'+i)), hosts: []string{"h1"}, steps: []tStep{runStep("x", "x")}})
	}
	sum, _ := runGraph(t, context.Background(), newGraph(tasks...), l, Options{PerHost: 3})
	if sum.Changed != 12 {
		t.Fatalf("changed %d, want 12", sum.Changed)
	}
	if p := c.peak.Load(); p != 3 {
		t.Errorf("peak nodes in flight on one host %d, want 3", p)
	}
}

func TestParallelBoundAcrossHosts(t *testing.T) {
	l := newLab("h1", "h2", "h3")
	var c concurrency
	l.handle(c.handler(2))
	g := newGraph(
		&tTask{name: "A", hosts: []string{"h1", "h2", "h3"}, steps: []tStep{runStep("x", "x")}},
		&tTask{name: "B", hosts: []string{"h1", "h2", "h3"}, steps: []tStep{runStep("x", "x")}},
	)
	sum, _ := runGraph(t, context.Background(), g, l, Options{Parallel: 2})
	if sum.Changed != 6 {
		t.Fatalf("changed %d, want 6", sum.Changed)
	}
	if p := c.peak.Load(); p != 2 {
		t.Errorf("peak nodes in flight %d, want 2", p)
	}
}

// A host whose slots are all taken by slow nodes must not stop nodes on
// another host from starting.
func TestFullHostDoesNotBlockOthers(t *testing.T) {
	l := newLab("slow", "fast")
	fastDone := make(chan struct{})
	var fastRuns atomic.Int32
	l.host("fast").Handler = func(ctx context.Context, r *hoststest.FakeRun) error {
		if fastRuns.Add(1) == 3 {
			close(fastDone)
		}
		return nil
	}
	l.host("slow").Handler = func(ctx context.Context, r *hoststest.FakeRun) error {
		select {
		case <-fastDone:
			return nil
		case <-time.After(10 * time.Second):
			return hoststest.FakeExit(9, "fast host was held back")
		}
	}
	g := newGraph(
		&tTask{name: "S1", hosts: []string{"slow"}, steps: []tStep{runStep("x", "x")}},
		&tTask{name: "S2", hosts: []string{"slow"}, steps: []tStep{runStep("x", "x")}},
		&tTask{name: "F1", hosts: []string{"fast"}, steps: []tStep{runStep("x", "x")}},
		&tTask{name: "F2", hosts: []string{"fast"}, steps: []tStep{runStep("x", "x")}},
		&tTask{name: "F3", hosts: []string{"fast"}, steps: []tStep{runStep("x", "x")}},
	)
	sum, _ := runGraph(t, context.Background(), g, l, Options{PerHost: 1})
	if sum.Failed != 0 || sum.Changed != 5 {
		t.Fatalf("failed %d changed %d, want 0 and 5: %+v", sum.Failed, sum.Changed, sum.Failures)
	}
}

func TestOneConnectionPerHostDialledLazily(t *testing.T) {
	l := newLab("h1", "h2", "h3")
	g := newGraph(
		&tTask{name: "A", hosts: []string{"h1", "h2"}, steps: []tStep{runStep("a", "a")}},
		&tTask{name: "B", hosts: []string{"h1", "h2"}, deps: []string{"A"}, steps: []tStep{runStep("b", "b")}},
		&tTask{name: "C", hosts: []string{"h3"}, when: boolp(false), steps: []tStep{runStep("c", "c")}},
	)
	runGraph(t, context.Background(), g, l, Options{})
	if l.dials["h1"] != 1 || l.dials["h2"] != 1 {
		t.Errorf("dials %v, want one each for h1 and h2", l.dials)
	}
	if l.dials["h3"] != 0 {
		t.Errorf("h3 dialled %d times though nothing ran there", l.dials["h3"])
	}
}

func TestUnknownTaskInOnlyIsUsageError(t *testing.T) {
	l := newLab("h1")
	g := newGraph(&tTask{name: "A", hosts: []string{"h1"}, steps: []tStep{runStep("a", "a")}})
	_, err := Run(context.Background(), g, l.connect, Options{LogDir: t.TempDir(), Only: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err %v, want a usage error naming nope", err)
	}
}
