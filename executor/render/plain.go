package render

import (
	"fmt"
	"io"
	"time"

	"github.com/plan-dev/plan/executor"
)

// Renderer consumes events and is closed after the last one.
type Renderer interface {
	Event(executor.Event)
	Close()
}

// Plain writes one line per thing that happened, prefixed "host task" or
// "host task/step", for logs and pipes. The summary ends the output.
type Plain struct {
	w       io.Writer
	verbose bool
}

// NewPlain returns a plain renderer. verbose adds step starts and every
// line of output (output comes when its node ends, see executor.Event).
func NewPlain(w io.Writer, verbose bool) *Plain {
	return &Plain{w: w, verbose: verbose}
}

// Event implements executor.Sink.
func (p *Plain) Event(ev executor.Event) {
	switch ev.Kind {
	case executor.EventRunStarted:
		fmt.Fprintf(p.w, "plan: %s%d nodes on %d hosts; logs in %s\n", dryRunPrefix(ev.DryRun), ev.Nodes, len(ev.Hosts), ev.LogDir)
	case executor.EventNodeStarted:
		if p.verbose {
			fmt.Fprintf(p.w, "%s %s: started\n", ev.Host, ev.Task)
		}
	case executor.EventStepStarted:
		if p.verbose {
			fmt.Fprintf(p.w, "%s %s/%s: %s%s\n", ev.Host, ev.Task, ev.Step, ev.StepKind, attempt(ev.Attempt))
		}
	case executor.EventStepOutput:
		if p.verbose {
			fmt.Fprintf(p.w, "%s %s/%s %s| %s\n", ev.Host, ev.Task, ev.Step, ev.Stream, ev.Text)
		}
	case executor.EventStepFinished:
		fmt.Fprintf(p.w, "%s %s/%s: %s\n", ev.Host, ev.Task, ev.Step, stepOutcome(ev))
	case executor.EventNodeFinished:
		fmt.Fprintf(p.w, "%s %s: %s\n", ev.Host, ev.Task, nodeOutcome(ev))
	case executor.EventRunFinished:
		if ev.Summary != nil {
			fmt.Fprintln(p.w)
			WriteSummary(p.w, ev.Summary)
		}
	}
}

// Close implements Renderer.
func (p *Plain) Close() {}

func dryRunPrefix(dry bool) string {
	if dry {
		return "dry run: "
	}
	return ""
}

func attempt(n int) string {
	if n > 1 {
		return fmt.Sprintf(" (attempt %d)", n)
	}
	return ""
}

func stepOutcome(ev executor.Event) string {
	s := string(ev.Status) + attempt(ev.Attempt)
	if ev.Reason != "" {
		s += " (" + ev.Reason + ")"
	}
	if ev.Error != "" {
		s += ": " + ev.Error
	}
	return s
}

func nodeOutcome(ev executor.Event) string {
	s := string(ev.Status)
	if ev.Duration > 0 {
		s += " in " + roundDuration(ev.Duration)
	}
	if ev.Reason != "" {
		s += " (" + ev.Reason + ")"
	}
	if ev.Error != "" {
		s += ": " + ev.Error
		if ev.Step != "" {
			s += " [step " + ev.Step + "]"
		}
	}
	return s
}

func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
