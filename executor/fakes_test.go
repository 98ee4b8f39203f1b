package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/hoststest"
)

// This file holds the test doubles for the dsl side: a graph of tasks
// written in Go instead of HCL, with an Evaluator that builds each step
// from a function of the results and upstream outputs it has seen.

type tTask struct {
	name    string
	hosts   []string
	deps    []string
	steps   []tStep
	when    *bool
	outputs func(e *tEval) map[string]cty.Value
	secrets []string
	timeout time.Duration
	retry   dsl.Retry
	version string // changes the fingerprint
	// readsNothing: the fingerprint covers no upstream output (as a dsl
	// task that refers to none of its dependencies' outputs).
	readsNothing bool
}

type tStep struct {
	name  string
	kind  dsl.StepKind
	build func(e *tEval) *dsl.Step
	off   bool // the step's when is false
}

func runStep(name, cmd string) tStep {
	return tStep{name: name, kind: dsl.StepRun, build: func(*tEval) *dsl.Step {
		return &dsl.Step{Kind: dsl.StepRun, Name: name, Command: cmd}
	}}
}

type tGraph struct {
	nodes   []*dsl.Node
	tasks   map[string]*tTask
	hosts   map[string]*dsl.Host
	secrets []string
}

// newGraph builds nodes like the dsl does: tasks in the order given (a
// topological order), one node per host, per-host dependency edges when the
// dependency runs on the same host, else on all of its nodes.
func newGraph(tasks ...*tTask) *tGraph {
	g := &tGraph{tasks: map[string]*tTask{}, hosts: map[string]*dsl.Host{}}
	byTask := map[string][]*dsl.Node{}
	for _, t := range tasks {
		g.tasks[t.name] = t
		for _, h := range t.hosts {
			host := g.hosts[h]
			if host == nil {
				host = &dsl.Host{Name: h, Address: "10.0.0." + fmt.Sprint(len(g.hosts)+1), User: "ops"}
				g.hosts[h] = host
			}
			n := &dsl.Node{ID: t.name + "[" + h + "]", Task: t.name, Host: host, Timeout: t.timeout, Retry: t.retry}
			for _, d := range t.deps {
				same := false
				for _, dn := range byTask[d] {
					if dn.Host.Name == h {
						n.Deps = append(n.Deps, dn)
						same = true
					}
				}
				if !same {
					n.Deps = append(n.Deps, byTask[d]...)
				}
			}
			byTask[t.name] = append(byTask[t.name], n)
			g.nodes = append(g.nodes, n)
		}
	}
	return g
}

func (g *tGraph) Nodes() []*dsl.Node { return g.nodes }
func (g *tGraph) Secrets() []string  { return g.secrets }
func (g *tGraph) Evaluator(n *dsl.Node, up dsl.Upstream) (dsl.Evaluator, hcl.Diagnostics) {
	t := g.tasks[n.Task]
	return &tEval{t: t, n: n, up: up, results: make([]dsl.StepResult, len(t.steps))}, nil
}

type tEval struct {
	t       *tTask
	n       *dsl.Node
	up      dsl.Upstream
	results []dsl.StepResult
}

func (e *tEval) When() (bool, hcl.Diagnostics) {
	if e.t.when != nil {
		return *e.t.when, nil
	}
	return true, nil
}
func (e *tEval) Len() int                       { return len(e.t.steps) }
func (e *tEval) StepName(i int) string          { return e.t.steps[i].name }
func (e *tEval) StepKind(i int) dsl.StepKind    { return e.t.steps[i].kind }
func (e *tEval) Record(i int, r dsl.StepResult) { e.results[i] = r }
func (e *tEval) Secrets() []string              { return e.t.secrets }
func (e *tEval) Step(i int) (*dsl.Step, bool, hcl.Diagnostics) {
	s := e.t.steps[i]
	if s.build == nil {
		panic("step " + s.name + " has no body")
	}
	if s.off {
		return nil, false, nil
	}
	return s.build(e), true, nil
}
func (e *tEval) Outputs() (map[string]cty.Value, hcl.Diagnostics) {
	if e.t.outputs == nil {
		return map[string]cty.Value{}, nil
	}
	return e.t.outputs(e), nil
}

// Fingerprint covers the task's version and every upstream output it can
// see, as the real one covers the body and referenced values.
func (e *tEval) Fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s", e.t.name, e.n.Host.Name, e.t.version)
	if e.t.readsNothing {
		return b.String()
	}
	for _, d := range e.n.Deps {
		outs, _ := e.up.Outputs(d.Task, d.Host.Name)
		fmt.Fprintf(&b, "|%s=%#v", d.ID, outs)
	}
	return b.String()
}

// upOut returns an upstream string output.
func (e *tEval) upOut(task, host, name string) string {
	outs, ok := e.up.Outputs(task, host)
	if !ok {
		return "<missing>"
	}
	v, _ := outs[name].Unmark()
	if v.IsNull() || !v.IsKnown() {
		return "<null>"
	}
	return v.AsString()
}

// lab is a set of hoststest.Fake hosts with a connector over them.
type lab struct {
	mu    sync.Mutex
	fakes map[string]*hoststest.Fake
	dials map[string]int
}

func newLab(names ...string) *lab {
	l := &lab{fakes: map[string]*hoststest.Fake{}, dials: map[string]int{}}
	for _, n := range names {
		l.fakes[n] = hoststest.NewFake(n)
	}
	return l
}

func (l *lab) host(name string) *hoststest.Fake { return l.fakes[name] }

// handle sets the same handler on every host.
func (l *lab) handle(h hoststest.FakeHandler) {
	for _, f := range l.fakes {
		f.Handler = h
	}
}

// keepOpen lets one Fake serve several runs: Close is counted, not done.
type keepOpen struct {
	*hoststest.Fake
	closes *int
}

func (k keepOpen) Close() error { *k.closes++; return nil }

func (l *lab) connect(ctx context.Context, h *dsl.Host) (hosts.Transport, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dials[h.Name]++
	f, ok := l.fakes[h.Name]
	if !ok {
		return nil, fmt.Errorf("no such host %s", h.Name)
	}
	n := 0
	return keepOpen{f, &n}, nil
}

// cmds lists the commands run on a host, in order.
func (l *lab) cmds(host string) []string {
	var out []string
	for _, c := range l.fakes[host].Calls() {
		if c.Op == "run" {
			out = append(out, c.Cmd)
		}
	}
	return out
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) sink(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// node returns the node_finished event of id.
func (r *recorder) node(t *testing.T, id string) Event {
	t.Helper()
	for _, ev := range r.all() {
		if ev.Kind == EventNodeFinished && ev.Node == id {
			return ev
		}
	}
	t.Fatalf("no node_finished event for %s", id)
	return Event{}
}

// runGraph runs g on l with opts (LogDir and Sink filled in when empty).
func runGraph(t *testing.T, ctx context.Context, g Graph, l *lab, opts Options) (*Summary, *recorder) {
	t.Helper()
	rec := &recorder{}
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(t.TempDir(), "logs")
	}
	if opts.Sink == nil {
		opts.Sink = rec.sink
	}
	sum, err := Run(ctx, g, l.connect, opts)
	if opts.State != nil {
		opts.State.Close()
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum, rec
}

// waitFor waits (bounded) on ch and fails the test when it does not come.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func boolp(b bool) *bool { return &b }
