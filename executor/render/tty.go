package render

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plan-dev/plan/executor"
)

// TTY is the live view for a terminal: finished nodes scroll by as plain
// lines, and below them a block redrawn in place shows the elapsed time,
// overall progress, and per host a progress bar with the nodes in flight,
// their current step and push progress.
type TTY struct {
	mu      sync.Mutex
	w       io.Writer
	width   func() int
	start   time.Time
	hosts   []string
	views   map[string]*hostView
	nodes   int
	done    int
	failed  int
	drawn   int // lines of the live block currently on screen
	last    time.Time
	live    bool
	stop    chan struct{}
	stopped chan struct{}
}

type hostView struct {
	total, done int
	running     map[string]*nodeView
}

type nodeView struct {
	task, step string
	started    time.Time
	sent       int64
	total      int64
}

// NewTTY returns a live renderer. width reports the terminal's columns
// (lines are cut to fit so the redraw stays in place).
func NewTTY(w io.Writer, width func() int) *TTY {
	t := &TTY{w: w, width: width, start: time.Now(), views: map[string]*hostView{},
		stop: make(chan struct{}), stopped: make(chan struct{}), live: true}
	go t.tick()
	return t
}

// tick redraws the block so the elapsed times move while nothing happens.
func (t *TTY) tick() {
	defer close(t.stopped)
	tk := time.NewTicker(250 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
			t.mu.Lock()
			t.redraw(nil)
			t.mu.Unlock()
		}
	}
}

func (t *TTY) view(host string) *hostView {
	v, ok := t.views[host]
	if !ok {
		v = &hostView{running: map[string]*nodeView{}}
		t.views[host] = v
		t.hosts = append(t.hosts, host)
	}
	return v
}

// Event implements executor.Sink.
func (t *TTY) Event(ev executor.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	switch ev.Kind {
	case executor.EventRunStarted:
		t.start = ev.Time
		t.nodes = ev.Nodes
		for _, h := range ev.Hosts {
			t.view(h).total = ev.HostNodes[h]
		}
		lines = append(lines, fmt.Sprintf("plan: %s%d nodes on %d hosts; logs in %s", dryRunPrefix(ev.DryRun), ev.Nodes, len(ev.Hosts), ev.LogDir))
	case executor.EventNodeStarted:
		t.view(ev.Host).running[ev.Node] = &nodeView{task: ev.Task, started: ev.Time}
	case executor.EventStepStarted:
		if nv := t.view(ev.Host).running[ev.Node]; nv != nil {
			nv.step, nv.sent, nv.total = ev.Step+attempt(ev.Attempt), 0, 0
		}
	case executor.EventPushProgress:
		if nv := t.view(ev.Host).running[ev.Node]; nv != nil {
			nv.sent, nv.total = ev.Sent, ev.Total
		}
	case executor.EventStepFinished:
		// A failed attempt that will be retried is worth a line; the
		// node's own line reports the final failure.
		if ev.Status == executor.StatusFailed {
			lines = append(lines, fmt.Sprintf("  %s %s/%s: %s", ev.Host, ev.Task, ev.Step, stepOutcome(ev)))
		}
	case executor.EventNodeFinished:
		v := t.view(ev.Host)
		delete(v.running, ev.Node)
		v.done++
		t.done++
		if ev.Status == executor.StatusFailed {
			t.failed++
		}
		lines = append(lines, fmt.Sprintf("%s %s %s: %s", mark(ev.Status), ev.Host, ev.Task, nodeOutcome(ev)))
	case executor.EventRunFinished:
		t.clear()
		t.live = false
		if ev.Summary != nil {
			fmt.Fprintln(t.w)
			WriteSummary(t.w, ev.Summary)
		}
		return
	}
	// Without lines to add, a redraw can wait for the ticker when the
	// block was drawn a moment ago: bursts of events cost one frame.
	if len(lines) == 0 && time.Since(t.last) < minFrame {
		return
	}
	t.redraw(lines)
}

// minFrame is the shortest time between two redraws caused by events.
const minFrame = 50 * time.Millisecond

func mark(s executor.Status) string {
	switch s {
	case executor.StatusFailed:
		return "✗"
	case executor.StatusSkipped:
		return "-"
	case executor.StatusUpToDate:
		return "="
	case executor.StatusChanged:
		return "~"
	}
	return "✓"
}

// Close stops the live block (the summary has been printed by then).
func (t *TTY) Close() {
	close(t.stop)
	<-t.stopped
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	t.live = false
}

// clear erases the live block.
func (t *TTY) clear() {
	if t.drawn > 0 {
		fmt.Fprintf(t.w, "\x1b[%dA\r\x1b[J", t.drawn)
		t.drawn = 0
	}
}

// redraw prints permanent lines above the block, then the block.
func (t *TTY) redraw(permanent []string) {
	if !t.live {
		return
	}
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", t.drawn)
	}
	for _, l := range permanent {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	block := t.block()
	width := 80
	if t.width != nil {
		if w := t.width(); w > 10 {
			width = w
		}
	}
	for _, l := range block {
		b.WriteString(cut(l, width-1))
		b.WriteByte('\n')
	}
	t.drawn = len(block)
	t.last = time.Now()
	io.WriteString(t.w, b.String())
}

func (t *TTY) block() []string {
	now := time.Now()
	running := 0
	for _, v := range t.views {
		running += len(v.running)
	}
	head := fmt.Sprintf("⏱ %s  %d/%d nodes done, %d running", roundDuration(now.Sub(t.start)), t.done, t.nodes, running)
	if t.failed > 0 {
		head += fmt.Sprintf(", %d failed", t.failed)
	}
	lines := []string{head}
	nameWidth := 4
	for _, h := range t.hosts {
		nameWidth = max(nameWidth, len(h))
	}
	for _, h := range t.hosts {
		v := t.views[h]
		line := fmt.Sprintf("  %-*s %s %d/%d", nameWidth, h, bar(v.done, v.total, 10), v.done, v.total)
		ids := make([]string, 0, len(v.running))
		for id := range v.running {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return v.running[ids[i]].started.Before(v.running[ids[j]].started) })
		for i, id := range ids {
			if i == 2 {
				line += fmt.Sprintf("  +%d more", len(ids)-i)
				break
			}
			nv := v.running[id]
			line += "  ▸ " + nv.task
			if nv.step != "" {
				line += "/" + nv.step
			}
			if nv.total > 0 {
				line += fmt.Sprintf(" %d%% of %s", nv.sent*100/nv.total, bytesString(nv.total))
			}
			line += " " + roundDuration(now.Sub(nv.started))
		}
		lines = append(lines, line)
	}
	return lines
}

func bar(done, total, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	full := done * width / total
	return "[" + strings.Repeat("#", full) + strings.Repeat(".", width-full) + "]"
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	return string(r[:n-1]) + "…"
}

// Suspend takes the live block off the screen, runs fn (a password prompt,
// say) with the terminal to itself, then resumes drawing.
func (t *TTY) Suspend(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clear()
	fn()
	t.redraw(nil)
}
