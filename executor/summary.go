package executor

import (
	"time"
)

// Summary is the outcome of a run, already redacted.
type Summary struct {
	DryRun      bool          `json:"dry_run,omitempty"`
	Interrupted bool          `json:"interrupted,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
	LogDir      string        `json:"log_dir"`
	StatePath   string        `json:"state_path,omitempty"`

	Nodes    int `json:"nodes"`
	OK       int `json:"ok"`
	Changed  int `json:"changed"`
	Skipped  int `json:"skipped"`
	Failed   int `json:"failed"`
	UpToDate int `json:"up_to_date"`

	Hosts    []HostSummary `json:"hosts"`
	Failures []Failure     `json:"failures,omitempty"`
	// Stopped lists nodes that did not run because of a failure upstream,
	// --fail-fast or an interrupt (not those whose when was false).
	Stopped []Skip `json:"stopped,omitempty"`
	// LogErrors are the node logs that could not be written ("NODE:
	// error"); those nodes' LogFile is empty here.
	LogErrors []string `json:"log_errors,omitempty"`
}

// HostSummary counts a host's nodes by outcome. Duration runs from the
// first node started on the host to the last one finished.
type HostSummary struct {
	Host     string        `json:"host"`
	OK       int           `json:"ok"`
	Changed  int           `json:"changed"`
	Skipped  int           `json:"skipped"`
	Failed   int           `json:"failed"`
	UpToDate int           `json:"up_to_date"`
	Duration time.Duration `json:"duration_ns"`
}

// Failure is one failed node.
type Failure struct {
	Node      string   `json:"node"`
	Host      string   `json:"host"`
	Task      string   `json:"task"`
	Step      string   `json:"step,omitempty"`
	StepKind  string   `json:"step_kind,omitempty"`
	ExitCode  *int     `json:"exit_code,omitempty"`
	Error     string   `json:"error"`
	Stderr    []string `json:"stderr,omitempty"` // last lines
	LogFile   string   `json:"log_file,omitempty"`
	Reproduce string   `json:"reproduce,omitempty"`
}

// Skip is a node that did not run, and why.
type Skip struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// Exit codes of a run, as `plan run` returns them.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitInterrupted = 130
)

// ExitCode is the process exit code for this outcome: 130 when the run was
// interrupted, 1 when a node failed or did not run because of a failure,
// else 0.
func (s *Summary) ExitCode() int {
	switch {
	case s.Interrupted:
		return ExitInterrupted
	case s.Failed > 0 || len(s.Stopped) > 0:
		return ExitFailed
	}
	return ExitOK
}

func (r *run) summary(interrupted bool) *Summary {
	s := &Summary{
		DryRun:      r.opts.DryRun,
		Interrupted: interrupted,
		Duration:    time.Since(r.started),
		LogDir:      r.opts.LogDir,
		Nodes:       len(r.nodes),
	}
	if r.opts.State != nil && !r.opts.DryRun {
		s.StatePath = r.opts.State.Path()
	}
	type span struct{ start, end time.Time }
	byHost := map[string]*HostSummary{}
	spans := map[string]*span{}
	var order []string
	for _, nr := range r.nodes {
		h := nr.n.Host.Name
		hs, ok := byHost[h]
		if !ok {
			hs = &HostSummary{Host: h}
			byHost[h] = hs
			spans[h] = &span{}
			order = append(order, h)
		}
		res := nr.res
		switch res.Status {
		case StatusOK:
			hs.OK++
			s.OK++
		case StatusChanged:
			hs.Changed++
			s.Changed++
		case StatusUpToDate:
			hs.UpToDate++
			s.UpToDate++
		case StatusSkipped:
			hs.Skipped++
			s.Skipped++
			if !res.whenOff {
				s.Stopped = append(s.Stopped, Skip{Node: nr.n.ID, Reason: r.red.String(res.Reason)})
			}
		case StatusFailed:
			hs.Failed++
			s.Failed++
			s.Failures = append(s.Failures, Failure{
				Node: nr.n.ID, Host: h, Task: nr.n.Task, Step: res.Step, StepKind: string(res.StepKind),
				ExitCode: res.ExitCode, Error: r.red.String(res.Error), Stderr: r.red.Strings(res.Stderr),
				LogFile: res.LogFile, Reproduce: r.red.String(res.Repro),
			})
		}
		if res.Status == StatusSkipped || res.Status == StatusUpToDate {
			continue
		}
		sp := spans[h]
		if sp.start.IsZero() || res.Start.Before(sp.start) {
			sp.start = res.Start
		}
		if res.End.After(sp.end) {
			sp.end = res.End
		}
	}
	for _, h := range order {
		hs := byHost[h]
		hs.Duration = spans[h].end.Sub(spans[h].start)
		s.Hosts = append(s.Hosts, *hs)
	}
	return s
}
