package executor

import "time"

// EventKind says what an Event reports.
type EventKind string

const (
	EventRunStarted   EventKind = "run_started"   // Nodes, Hosts, LogDir
	EventNodeStarted  EventKind = "node_started"  // Node, Task, Host
	EventStepStarted  EventKind = "step_started"  // + Step, StepKind, Attempt
	EventStepOutput   EventKind = "step_output"   // + Stream, Text (one line)
	EventPushProgress EventKind = "push_progress" // + Sent, Total
	EventStepFinished EventKind = "step_finished" // + Status, ExitCode, Error
	EventNodeFinished EventKind = "node_finished" // + Status, Error, LogFile, Duration
	EventRunFinished  EventKind = "run_finished"  // Summary
)

// Status is the outcome of a step or a node.
type Status string

const (
	StatusOK       Status = "ok"         // ran (or a guard skipped it) and changed nothing
	StatusChanged  Status = "changed"    // ran and changed the host
	StatusSkipped  Status = "skipped"    // not run: when false, a dependency failed, or the run stopped
	StatusFailed   Status = "failed"     // ran and failed
	StatusUpToDate Status = "up-to-date" // succeeded in an earlier run with the same fingerprint
)

// Event is one thing that happened during a run. Every text field has
// already been redacted. Events are delivered one at a time, in order, from
// whichever goroutine produced them, so a sink needs no locking of its own.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     EventKind     `json:"event"`
	Node     string        `json:"node,omitempty"`
	Task     string        `json:"task,omitempty"`
	Host     string        `json:"host,omitempty"`
	Step     string        `json:"step,omitempty"`
	StepKind string        `json:"step_kind,omitempty"`
	Attempt  int           `json:"attempt,omitempty"`
	Status   Status        `json:"status,omitempty"`
	Reason   string        `json:"reason,omitempty"` // why skipped / what changed
	Stream   string        `json:"stream,omitempty"` // "stdout" or "stderr"
	Text     string        `json:"text,omitempty"`
	ExitCode *int          `json:"exit_code,omitempty"`
	Error    string        `json:"error,omitempty"`
	Sent     int64         `json:"sent,omitempty"`
	Total    int64         `json:"total,omitempty"`
	LogFile  string        `json:"log_file,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Nodes    int           `json:"nodes,omitempty"`
	Hosts    []string      `json:"hosts,omitempty"`
	// HostNodes counts the nodes of each host (run_started).
	HostNodes map[string]int `json:"host_nodes,omitempty"`
	LogDir    string         `json:"log_dir,omitempty"`
	DryRun    bool           `json:"dry_run,omitempty"`
	Summary   *Summary       `json:"summary,omitempty"`
}

// Sink receives events. The executor never calls it concurrently.
type Sink func(Event)
