package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts"
)

// nodeResult is how one node ended.
type nodeResult struct {
	nr       *nodeRun
	Status   Status
	Reason   string // skipped: why; up-to-date: from when
	Step     string // failed: the step that failed
	StepKind dsl.StepKind
	ExitCode *int
	Error    string
	Stderr   []string // failed: last lines of the failed step's stderr
	Repro    string   // failed: the command to reproduce it by hand
	LogFile  string
	Start    time.Time
	End      time.Time
	Changed  int // steps that changed the host
	whenOff  bool
}

// satisfies reports whether dependents may run after this result.
func (res *nodeResult) satisfies() bool {
	switch res.Status {
	case StatusOK, StatusChanged, StatusUpToDate:
		return true
	case StatusSkipped:
		return res.whenOff // when = false is a decision, not a failure
	}
	return false
}

// stderrTailLines is how many lines of stderr a failure shows.
const stderrTailLines = 10

// execNode runs one node from evaluation to outputs; every problem becomes
// a failed result (panics too, see execNodeSafely).
func (r *run) execNode(ctx context.Context, nr *nodeRun) (res *nodeResult) {
	n := nr.n
	res = &nodeResult{nr: nr, Start: time.Now()}
	nl := &nodeLog{}
	defer func() {
		if p := recover(); p != nil {
			// A bug (in an evaluator, say) fails this node only, and its
			// log says so; execNodeSafely catches what panics past here.
			res.Status, res.Reason = StatusFailed, ""
			res.Error = r.red.String(fmt.Sprintf("internal error: %v", p))
		}
		res.End = time.Now()
		if res.Status != StatusUpToDate {
			res.LogFile = r.writeLog(nr, nl, res)
		}
	}()

	ev, diags := r.g.Evaluator(n, r)
	if diags.HasErrors() {
		return r.fail(res, "", "", fmt.Errorf("evaluate: %s", diags.Error()))
	}
	r.red.Add(ev.Secrets()...)
	// The host's identity joins the fingerprint, so a plan pointed at other
	// machines under the same names does not take them for up to date.
	fp := fmt.Sprintf("%s|%s|%s@%s:%d", ev.Fingerprint(), n.Host.Name, n.Host.User, n.Host.Address, n.Host.Port)
	after := r.sameHostDigest(n)
	if after != "" {
		fp += "|after " + after
	}
	defer func() {
		switch res.Status {
		case StatusOK, StatusChanged, StatusUpToDate:
			outs, _ := r.Outputs(n.Task, n.Host.Name)
			r.finished(n, after, outs)
		case StatusSkipped:
			if res.whenOff {
				r.finished(n, after, nil)
			}
		}
	}()

	if r.upToDate(n, fp) {
		res.Status = StatusUpToDate
		res.Reason = "succeeded before with the same inputs"
		return res
	}
	r.emit(Event{Kind: EventNodeStarted, Node: n.ID, Task: n.Task, Host: n.Host.Name})
	if r.opts.State != nil && !r.opts.DryRun {
		// The node is about to change the host: its old success no longer
		// describes the host until it succeeds again. If that cannot be
		// written, the file would still say "done" for a host this node
		// changes, so the node does not run.
		if err := r.opts.State.forget(n.ID); err != nil {
			return r.fail(res, "", "", fmt.Errorf("clear the node's old success from the run state before changing the host: %w", err))
		}
	}

	run, diags := ev.When()
	if diags.HasErrors() {
		return r.fail(res, "", "", fmt.Errorf("evaluate when: %s", diags.Error()))
	}
	if !run {
		res.Status, res.Reason, res.whenOff = StatusSkipped, "when is false", true
		nl.note("task skipped: when is false")
		return res
	}

	nctx := ctx
	if n.Timeout > 0 {
		var cancel context.CancelFunc
		nctx, cancel = context.WithTimeout(ctx, n.Timeout)
		defer cancel()
	}

	if failed := r.runSteps(ctx, nctx, nr, ev, res, nl); failed != nil {
		return failed
	}
	return r.finishNode(n, ev, fp, res, nl)
}

// upToDate reports whether the run state holds a success of n with the
// same fingerprint; its outputs are then n's, as if it had run.
func (r *run) upToDate(n *dsl.Node, fp string) bool {
	// An always_run node checks the host each run (a token that may have
	// expired, say): its old success says nothing about now.
	if r.opts.State == nil || r.opts.Force || r.forced[n] || n.AlwaysRun {
		return false
	}
	outs, ok, _ := r.opts.State.lookup(n.ID, fp)
	if !ok {
		return false
	}
	for _, v := range outs {
		if isSensitive(v) {
			r.red.Add(secretStrings(v)...)
		}
	}
	r.setOutputs(n, outs)
	return true
}

// runSteps runs the node's steps in order on its host (connected at the
// first step that runs), each under nctx. It returns the failed result, or
// nil when every step succeeded.
func (r *run) runSteps(ctx, nctx context.Context, nr *nodeRun, ev dsl.Evaluator, res *nodeResult, nl *nodeLog) *nodeResult {
	n := nr.n
	var t hosts.Transport
	for i := 0; i < ev.Len(); i++ {
		step, runIt, diags := ev.Step(i)
		r.red.Add(ev.Secrets()...)
		name, kind := ev.StepName(i), ev.StepKind(i)
		if diags.HasErrors() {
			return r.fail(res, name, kind, fmt.Errorf("evaluate step: %s", diags.Error()))
		}
		if !runIt {
			ev.Record(i, dsl.StepResult{Skipped: true})
			nl.note(fmt.Sprintf("== %s %s: skipped (when is false)", kind, name))
			r.emit(Event{Kind: EventStepFinished, Node: n.ID, Task: n.Task, Host: n.Host.Name,
				Step: name, StepKind: string(kind), Status: StatusOK, Reason: "when is false"})
			continue
		}
		if t == nil {
			var err error
			if t, err = r.conns.get(ctx, n.Host); err != nil {
				return r.fail(res, name, kind, err)
			}
		}
		sr, out := r.execStep(nctx, t, nr, step, nl)
		ev.Record(i, sr.result)
		if sr.result.Changed {
			res.Changed++
		}
		if out != nil {
			res.Stderr = tailLines(r.red.String(sr.stderr), stderrTailLines)
			res.Repro = r.red.String(r.reproduce(n.Host, step))
			res.ExitCode = out.exitCode
			if out.interrupted {
				res.Reason = "interrupted"
			}
			return r.fail(res, name, kind, out.err)
		}
	}
	return nil
}

// finishNode evaluates the node's outputs once its steps succeeded and
// records the success in the run state.
func (r *run) finishNode(n *dsl.Node, ev dsl.Evaluator, fp string, res *nodeResult, nl *nodeLog) *nodeResult {
	outs, diags := ev.Outputs()
	r.red.Add(ev.Secrets()...)
	for _, v := range outs {
		if isSensitive(v) {
			r.red.Add(secretStrings(v)...)
		}
	}
	if diags.HasErrors() {
		return r.fail(res, "", "", fmt.Errorf("evaluate outputs: %s", diags.Error()))
	}
	r.setOutputs(n, outs)
	if r.opts.State != nil && !r.opts.DryRun {
		if err := r.opts.State.record(n.ID, fp, outs, nl.sources); err != nil {
			nl.note("warning: run state not saved: " + err.Error())
		}
	}
	res.Status = StatusOK
	if res.Changed > 0 {
		res.Status = StatusChanged
	}
	return res
}

func (r *run) fail(res *nodeResult, step string, kind dsl.StepKind, err error) *nodeResult {
	res.Status = StatusFailed
	res.Step = step
	res.StepKind = kind
	res.Error = r.red.String(err.Error())
	return res
}

// stepFailure describes why a step failed.
type stepFailure struct {
	err         error
	exitCode    *int
	interrupted bool
}

// writeLog builds the node's log, hands it to the log writer and emits the
// node's output as step_output events; it returns the log file's path. The
// text is made and redacted here, when the node ends, not live, so that
// values the node only learns are sensitive at its end (its sensitive
// outputs, typically made from a step's stdout) are redacted from it too.
// The file itself is created in the background (see logWriter): the node's
// result does not wait for it, the end of the run does.
func (r *run) writeLog(nr *nodeRun, nl *nodeLog, res *nodeResult) string {
	n := nr.n
	nl.mu.Lock()
	entries := nl.entries
	nl.mu.Unlock()

	var b strings.Builder
	fmt.Fprintf(&b, "# %s on %s, started %s\n", n.Task, n.Host.Name, res.Start.Format(time.RFC3339))
	// Output is written as it came, chunks joined (a line may arrive in
	// several); a note starts on a line of its own.
	lineStart := true
	for _, e := range entries {
		if e.stream == "" {
			if !lineStart {
				b.WriteByte('\n')
			}
			b.WriteString(e.text)
			b.WriteByte('\n')
			lineStart = true
			continue
		}
		if len(e.data) > 0 {
			b.Write(e.data)
			lineStart = e.data[len(e.data)-1] == '\n'
		}
	}
	if !lineStart {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "# %s after %s", res.Status, res.End.Sub(res.Start).Round(time.Millisecond))
	if res.Error != "" {
		fmt.Fprintf(&b, ": %s", res.Error)
	}
	b.WriteByte('\n')

	// One step_output event per line, per step and stream, in order.
	if r.opts.Sink != nil {
		for _, chunk := range mergeStreams(entries) {
			text := r.red.String(string(chunk.data))
			for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
				r.emit(Event{Kind: EventStepOutput, Node: n.ID, Task: n.Task, Host: n.Host.Name,
					Step: chunk.step, Stream: chunk.stream, Text: line})
			}
		}
	}

	lh := r.logs.hosts[n.Host.Name]
	path := lh.path(n.Task)
	r.logs.enqueue(logJob{host: lh, path: path, content: r.red.String(b.String()), res: res})
	return path
}

// mergeStreams joins consecutive output of the same step and stream, so a
// line written in several pieces becomes one event. A chunk shares its
// bytes with the entry it comes from until something is appended to it.
func mergeStreams(entries []logEntry) []logEntry {
	var out []logEntry
	owned := false // whether out's last chunk has bytes of its own
	for _, e := range entries {
		if e.stream == "" || len(e.data) == 0 {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].step == e.step && out[k].stream == e.stream {
			if !owned {
				out[k].data = append(make([]byte, 0, len(out[k].data)+len(e.data)), out[k].data...)
				owned = true
			}
			out[k].data = append(out[k].data, e.data...)
			continue
		}
		out = append(out, logEntry{step: e.step, stream: e.stream, data: e.data})
		owned = false
	}
	return out
}

// safeName makes a host or task name usable as one path element.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

func tailLines(s string, n int) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// nodeLog collects a node's output in memory, in order, until the node
// ends (see writeLog).
type nodeLog struct {
	mu      sync.Mutex
	entries []logEntry
	size    int
	// sources are the local files pushed, with their stamps (see
	// nodeState.Sources). Only the node's own goroutine touches it.
	sources map[string]string
}

type logEntry struct {
	step   string
	stream string // "" for a note
	text   string
	data   []byte
}

// maxNodeLog bounds the output kept per node; beyond it the log says it
// was cut.
const maxNodeLog = 32 << 20

// MaxStepValue bounds what a step keeps in memory for expressions:
// step.NAME.stdout, step.NAME.stderr (each) and step.NAME.content. A step
// whose output or fetched file is bigger fails, saying so; what streams
// past it is not held.
const MaxStepValue = 16 << 20

func (nl *nodeLog) note(text string) {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	nl.entries = append(nl.entries, logEntry{text: text})
}

func (nl *nodeLog) writer(step, stream string) *streamWriter {
	return &streamWriter{nl: nl, step: step, stream: stream}
}

// streamWriter appends one step's stream to the node log and keeps a copy
// of its own for the step result.
type streamWriter struct {
	nl     *nodeLog
	step   string
	stream string
	mu     sync.Mutex
	buf    []byte
	over   bool // more than MaxStepValue came: buf holds the first part
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if keep := MaxStepValue - len(w.buf); len(p) > keep {
		w.buf = append(w.buf, p[:keep]...)
		w.over = true
	} else {
		w.buf = append(w.buf, p...)
	}
	w.mu.Unlock()
	nl := w.nl
	nl.mu.Lock()
	defer nl.mu.Unlock()
	switch {
	case nl.size+len(p) <= maxNodeLog:
		nl.entries = append(nl.entries, logEntry{step: w.step, stream: w.stream, data: append([]byte(nil), p...)})
		nl.size += len(p)
	case nl.size <= maxNodeLog:
		nl.entries = append(nl.entries, logEntry{text: "[log cut: node output over 32 MiB]"})
		nl.size = maxNodeLog + 1
	}
	return len(p), nil
}

// tooBig is the error of a step whose stream passed MaxStepValue, or nil.
func (w *streamWriter) tooBig() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.over {
		return nil
	}
	return fmt.Errorf("its %s passed %d MiB, the most plan keeps for step.%s.%s: send big output to a file on the host",
		w.stream, MaxStepValue>>20, w.step, w.stream)
}

func (w *streamWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// exitCodeOf returns the remote exit code in err, if the command ran.
func exitCodeOf(err error) (int, bool) {
	var ee *hosts.ExitError
	if errors.As(err, &ee) {
		return ee.Code, true
	}
	return 0, false
}

var _ = cty.NilVal

// sameHostDigest digests what the node's dependencies on its own host
// produced: their outputs, and (chained) what their own same-host
// dependencies produced. It joins the node's fingerprint, so a node that ran
// again on a host and produced other outputs (the host was reset or
// reinstalled: its facts differ) makes everything after it on that host run
// again, whether or not those nodes read the outputs. Inputs that changed
// without changing any output do not travel down the chain (a node that
// re-rendered a file, say, leaves the nodes after it up to date), and
// dependencies on other hosts count only through the outputs the node refers
// to (dsl's Fingerprint): chaining them would tie every node to every host.
// "" when the node has no dependency on its host.
func (r *run) sameHostDigest(n *dsl.Node) string {
	var ids []string
	digests := map[string]string{}
	r.outMu.RLock()
	for _, d := range n.Deps {
		if d.Host.Name != n.Host.Name {
			continue
		}
		if dg, ok := r.done[d]; ok {
			ids = append(ids, d.ID)
			digests[d.ID] = dg
		}
	}
	r.outMu.RUnlock()
	if len(ids) == 0 {
		return ""
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s=%s\x00", id, digests[id])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// finished records the digest of a node that ended well, for its dependants
// on the same host: its outputs (sensitive ones included, only inside the
// digest) and its own sameHostDigest.
func (r *run) finished(n *dsl.Node, after string, outs map[string]cty.Value) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", after)
	if len(outs) > 0 {
		plain, _ := cty.ObjectVal(outs).UnmarkDeep()
		raw, err := ctyjson.Marshal(plain, cty.DynamicPseudoType)
		if err != nil {
			// Not expected for outputs the state can store; an
			// undigestable output must not look unchanged.
			raw = []byte(fmt.Sprintf("undigestable outputs %p", n))
		}
		h.Write(raw)
	}
	r.outMu.Lock()
	r.done[n] = hex.EncodeToString(h.Sum(nil))
	r.outMu.Unlock()
}
