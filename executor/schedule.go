package executor

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts"
)

// run is the state of one executor run.
type run struct {
	g       Graph
	opts    Options
	red     *Redactor
	conns   *connPool
	started time.Time

	emitMu sync.Mutex

	outMu   sync.RWMutex
	outputs map[string]map[string]cty.Value // key: task + "\x00" + host
	// done digests each finished node's fingerprint and outputs, for the
	// fingerprints of its dependants on the same host (see chainedFingerprint).
	done map[*dsl.Node]string

	nodes   []*nodeRun
	forced  map[*dsl.Node]bool
	results chan *nodeResult
	logs    *logWriter

	// rolls is the state of each rolling task; released are held nodes
	// whose batch opened, for the scheduler to start (see rolling.go).
	rolls    map[*dsl.Rolling]*rollState
	released []*nodeRun
}

// nodeRun is the scheduler's view of one node.
type nodeRun struct {
	n          *dsl.Node
	index      int
	waiting    int // dependencies not yet done
	dependents []*nodeRun
	done       bool
	res        *nodeResult
}

func newRun(g Graph, connect Connector, opts Options) (*run, error) {
	red := opts.Redactor
	if red == nil {
		red = NewRedactor()
	}
	red.Add(g.Secrets()...)
	red.Add(opts.Secrets...)
	r := &run{
		g:       g,
		opts:    opts,
		red:     red,
		conns:   newConnPool(connect),
		outputs: map[string]map[string]cty.Value{},
		done:    map[*dsl.Node]string{},
		forced:  map[*dsl.Node]bool{},
		results: make(chan *nodeResult),
	}
	all := g.Nodes()
	selected, err := selectNodes(all, opts.Only)
	if err != nil {
		return nil, err
	}
	selected = selectHosts(all, selected, opts.Limit)
	if err := r.markForced(all, opts.From); err != nil {
		return nil, err
	}
	byNode := map[*dsl.Node]*nodeRun{}
	for _, n := range all {
		if !selected[n] {
			continue
		}
		nr := &nodeRun{n: n, index: len(r.nodes)}
		r.nodes = append(r.nodes, nr)
		byNode[n] = nr
	}
	for _, nr := range r.nodes {
		for _, d := range nr.n.Deps {
			dep, ok := byNode[d]
			if !ok {
				return nil, fmt.Errorf("node %s depends on %s, which is not in the graph", nr.n.ID, d.ID)
			}
			nr.waiting++
			dep.dependents = append(dep.dependents, nr)
		}
	}
	r.initRolling()
	if err := os.MkdirAll(opts.LogDir, 0o700); err != nil {
		return nil, fmt.Errorf("make log directory: %w", err)
	}
	hostNames := make([]string, 0, len(r.nodes))
	for _, nr := range r.nodes {
		hostNames = append(hostNames, nr.n.Host.Name)
	}
	r.logs = newLogWriter(opts.LogDir, hostNames)
	return r, nil
}

// selectNodes returns the nodes of the tasks in only plus everything they
// depend on (all nodes when only is empty).
func selectNodes(all []*dsl.Node, only []string) (map[*dsl.Node]bool, error) {
	sel := map[*dsl.Node]bool{}
	if len(only) == 0 {
		for _, n := range all {
			sel[n] = true
		}
		return sel, nil
	}
	if err := checkTasks(all, only, "--only"); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, t := range only {
		want[t] = true
	}
	var add func(n *dsl.Node)
	add = func(n *dsl.Node) {
		if sel[n] {
			return
		}
		sel[n] = true
		for _, d := range n.Deps {
			add(d)
		}
	}
	for _, n := range all {
		if wanted(want, n.Task) {
			add(n)
		}
	}
	return sel, nil
}

// markForced marks the nodes of the tasks in from and all their transitive
// dependents as to be run regardless of the state.
func (r *run) markForced(all []*dsl.Node, from []string) error {
	if len(from) == 0 {
		return nil
	}
	if err := checkTasks(all, from, "--from"); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, t := range from {
		want[t] = true
	}
	// all is topological: a node is forced when its task is wanted or one
	// of its dependencies is forced.
	for _, n := range all {
		if wanted(want, n.Task) {
			r.forced[n] = true
			continue
		}
		for _, d := range n.Deps {
			if r.forced[d] {
				r.forced[n] = true
				break
			}
		}
	}
	return nil
}

func checkTasks(all []*dsl.Node, tasks []string, flag string) error {
	known := map[string]bool{}
	for _, n := range all {
		known[n.Task] = true
		if base, _, ok := strings.Cut(n.Task, "["); ok {
			known[base] = true // TASK names every instance of a for_each task
		}
	}
	names := make([]string, 0, len(known))
	for t := range known {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range tasks {
		if !known[t] {
			return fmt.Errorf("%w: %s: no task named %s.%s (plan graph shows the tasks)", ErrUsage, flag, t, dsl.DidYouMean(t, names))
		}
	}
	return nil
}

// wanted reports whether a node's task is in want: by its name, or, for
// an instance TASK["key"] of a for_each task, by TASK.
func wanted(want map[string]bool, task string) bool {
	if want[task] {
		return true
	}
	base, _, ok := strings.Cut(task, "[")
	return ok && want[base]
}

// selectHosts keeps, of sel, the nodes on the hosts in limit, plus every
// node they depend on (on any host: their outputs are needed).
func selectHosts(all []*dsl.Node, sel map[*dsl.Node]bool, limit []string) map[*dsl.Node]bool {
	if len(limit) == 0 {
		return sel
	}
	want := map[string]bool{}
	for _, h := range limit {
		want[h] = true
	}
	out := map[*dsl.Node]bool{}
	var add func(n *dsl.Node)
	add = func(n *dsl.Node) {
		if out[n] {
			return
		}
		out[n] = true
		for _, d := range n.Deps {
			add(d)
		}
	}
	for _, n := range all {
		if sel[n] && want[n.Host.Name] {
			add(n)
		}
	}
	return out
}

// run walks the graph and returns the summary.
func (r *run) run(ctx context.Context) *Summary {
	r.started = time.Now()
	r.logs.start()
	// Normally the logs are waited for below, before the summary; this is
	// for a panic out of the scheduler (a sink's, say).
	defer r.logs.close()
	hostNames := []string{}
	perHostNodes := map[string]int{}
	for _, nr := range r.nodes {
		h := nr.n.Host.Name
		if perHostNodes[h] == 0 {
			hostNames = append(hostNames, h)
		}
		perHostNodes[h]++
	}
	r.emit(Event{Kind: EventRunStarted, Nodes: len(r.nodes), Hosts: hostNames, HostNodes: perHostNodes,
		LogDir: r.opts.LogDir, DryRun: r.opts.DryRun})

	var ready []*nodeRun
	for _, nr := range r.nodes {
		if nr.waiting == 0 {
			ready = append(ready, nr)
		}
	}
	ready = r.gate(ready)
	inFlight := 0
	perHost := map[string]int{}
	stopReason := ""
	ctxDone := ctx.Done()
	var wg sync.WaitGroup

	for {
		if stopReason == "" {
			// Start every ready node that fits, in topological order; a
			// node whose host is full waits without holding back others.
			kept := ready[:0]
			for _, nr := range ready {
				h := nr.n.Host.Name
				if inFlight >= r.opts.Parallel || perHost[h] >= r.opts.PerHost {
					kept = append(kept, nr)
					continue
				}
				inFlight++
				perHost[h]++
				wg.Add(1)
				go func(nr *nodeRun) {
					defer wg.Done()
					r.results <- r.execNodeSafely(ctx, nr)
				}(nr)
			}
			ready = kept
		}
		if inFlight == 0 {
			break
		}
		select {
		case res := <-r.results:
			inFlight--
			perHost[res.nr.n.Host.Name]--
			ready = append(ready, r.gate(r.finish(res))...)
			ready = append(ready, r.released...)
			r.released = nil
			if res.Status == StatusFailed && r.opts.FailFast && stopReason == "" {
				stopReason = "not started: --fail-fast after a failure"
			}
			sortByIndex(ready)
		case <-ctxDone:
			ctxDone = nil
			if stopReason == "" {
				stopReason = "not started: interrupted"
			}
		}
	}
	wg.Wait()
	// Every node has ended and handed over its log: wait until they are
	// all on disk. A log that could not be written is not named (as when
	// it was written inline) and the summary says why.
	r.logs.close()
	logErrors := r.logFailures()
	if ctx.Err() != nil && stopReason == "" {
		stopReason = "not started: interrupted"
	}
	// Whatever never started was stopped by fail-fast or an interrupt.
	for _, nr := range r.nodes {
		if !nr.done {
			r.skip(nr, stopReason)
		}
	}
	r.conns.closeAll()
	sum := r.summary(ctx.Err() != nil)
	sum.LogErrors = logErrors
	r.emit(Event{Kind: EventRunFinished, Summary: sum, Duration: sum.Duration, DryRun: r.opts.DryRun})
	return sum
}

// execNodeSafely runs a node and turns a panic (a bug in an evaluator,
// say) into that node's failure instead of the end of the whole run.
func (r *run) execNodeSafely(ctx context.Context, nr *nodeRun) (res *nodeResult) {
	defer func() {
		if p := recover(); p != nil {
			now := time.Now()
			res = &nodeResult{nr: nr, Status: StatusFailed, Start: now, End: now,
				Error: r.red.String(fmt.Sprintf("internal error: %v", p))}
		}
	}()
	return r.execNode(ctx, nr)
}

// logFailures forgets the path of every log that could not be written and
// returns why, in the nodes' order.
func (r *run) logFailures() []string {
	failed := r.logs.failed()
	if len(failed) == 0 {
		return nil
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].res.nr.index < failed[j].res.nr.index })
	out := make([]string, 0, len(failed))
	for _, f := range failed {
		f.res.LogFile = ""
		out = append(out, r.red.String(f.res.nr.n.ID+": "+f.err.Error()))
	}
	return out
}

func sortByIndex(nrs []*nodeRun) {
	sort.Slice(nrs, func(i, j int) bool { return nrs[i].index < nrs[j].index })
}

// finish records a node's result and returns the dependents that became
// ready. Dependents of a node that did not succeed are skipped, recursively.
func (r *run) finish(res *nodeResult) []*nodeRun {
	nr := res.nr
	nr.done = true
	nr.res = res
	r.emit(Event{Kind: EventNodeFinished, Node: nr.n.ID, Task: nr.n.Task, Host: nr.n.Host.Name,
		Status: res.Status, Reason: res.Reason, Error: res.Error, ExitCode: res.ExitCode,
		LogFile: res.LogFile, Duration: res.End.Sub(res.Start), Step: res.Step})
	var ready []*nodeRun
	for _, d := range nr.dependents {
		if d.done {
			continue
		}
		if !res.satisfies() {
			r.skip(d, fmt.Sprintf("dependency %s %s", nr.n.ID, res.Status))
			continue
		}
		d.waiting--
		if d.waiting == 0 {
			ready = append(ready, d)
		}
	}
	r.rollFinished(nr, res)
	return ready
}

// skip marks a node that will not run, and its dependents.
func (r *run) skip(nr *nodeRun, reason string) {
	if nr.done {
		return
	}
	now := time.Now()
	r.finish(&nodeResult{nr: nr, Status: StatusSkipped, Reason: reason, Start: now, End: now})
}

// setOutputs publishes a node's outputs to the nodes downstream.
func (r *run) setOutputs(n *dsl.Node, outs map[string]cty.Value) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	r.outputs[n.Task+"\x00"+n.Host.Name] = outs
}

// Outputs implements dsl.Upstream.
func (r *run) Outputs(task, host string) (map[string]cty.Value, bool) {
	r.outMu.RLock()
	defer r.outMu.RUnlock()
	outs, ok := r.outputs[task+"\x00"+host]
	return outs, ok
}

// emit redacts an event and hands it to the sink, one at a time.
func (r *run) emit(ev Event) {
	if r.opts.Sink == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Reason = r.red.String(ev.Reason)
	ev.Text = r.red.String(ev.Text)
	ev.Error = r.red.String(ev.Error)
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opts.Sink(ev)
}

// connPool holds one Transport per host, dialled on first use. A failed
// dial is remembered: every later node on that host fails at once with the
// same error instead of waiting for its own timeout.
type connPool struct {
	connect Connector
	mu      sync.Mutex
	hosts   map[string]*hostConn
}

type hostConn struct {
	once sync.Once
	t    hosts.Transport
	err  error
}

func newConnPool(c Connector) *connPool {
	return &connPool{connect: c, hosts: map[string]*hostConn{}}
}

func (p *connPool) get(ctx context.Context, h *dsl.Host) (hosts.Transport, error) {
	p.mu.Lock()
	hc, ok := p.hosts[h.Name]
	if !ok {
		hc = &hostConn{}
		p.hosts[h.Name] = hc
	}
	p.mu.Unlock()
	hc.once.Do(func() {
		hc.t, hc.err = p.connect(ctx, h)
		if hc.err != nil {
			hc.err = fmt.Errorf("connect to %s: %w", h.Name, hc.err)
		}
	})
	return hc.t, hc.err
}

func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, hc := range p.hosts {
		if hc.t != nil {
			_ = hc.t.Close()
		}
	}
}
