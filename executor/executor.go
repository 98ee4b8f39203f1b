package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts"
)

// Graph is what the executor needs from a loaded plan; *dsl.Plan
// satisfies it.
type Graph interface {
	// Nodes returns every node in a deterministic topological order.
	Nodes() []*dsl.Node
	// Evaluator evaluates one node's body late, given upstream outputs.
	Evaluator(n *dsl.Node, up dsl.Upstream) (dsl.Evaluator, hcl.Diagnostics)
	// Secrets are the sensitive strings known before anything runs.
	Secrets() []string
}

// Connector opens the Transport for a host. The executor calls it at most
// once per host per run, lazily, when the first node on that host needs the
// host, and closes the Transport at the end of the run.
type Connector func(ctx context.Context, h *dsl.Host) (hosts.Transport, error)

// Options tune a run. The zero value works (with defaults below) except
// that LogDir must be set.
type Options struct {
	// Parallel bounds the nodes in flight across all hosts (default 64).
	Parallel int
	// PerHost bounds the nodes in flight on one host (default 8, below
	// OpenSSH's MaxSessions of 10: each node uses one session at a time).
	PerHost int
	// FailFast stops starting new nodes after the first failure; nodes
	// already running finish.
	FailFast bool
	// DryRun evaluates guards and file checksums and reports what would
	// change, changing nothing (commands are not run, files not pushed,
	// state not written). Fetches do run: reading changes nothing.
	DryRun bool
	// Only restricts the run to these tasks and what they depend on.
	Only []string
	// Limit restricts the run to the nodes on these hosts (names of plan
	// hosts) and what they depend on (--limit).
	Limit []string
	// From runs these tasks and everything that depends on them again even
	// when the run state says they are up to date.
	From []string
	// Force ignores the run state: every node runs.
	Force bool
	// LogDir receives one log file per node: LogDir/HOST/TASK.log.
	LogDir string
	// State, when set, is the run state used to skip nodes that already
	// succeeded with the same fingerprint, and updated as nodes succeed.
	State *State
	// Secrets are redacted everywhere besides the plan's (sudo and ssh
	// passwords, for instance).
	Secrets []string
	// Redactor, when set, is used (and extended) instead of a new one, so
	// the caller can redact its own output with everything the run learnt.
	Redactor *Redactor
	// Sink receives every event (nil: none).
	Sink Sink
	// RebootTimeout bounds the wait for a host to come back from a reboot
	// step that sets no timeout of its own (default 10 minutes).
	RebootTimeout time.Duration
	// SSHCommand returns the ssh command line that reaches a host, for the
	// "reproduce by hand" line of a failure (default: ssh [-p PORT]
	// [USER@]ADDRESS).
	SSHCommand func(h *dsl.Host) string
}

// ErrUsage marks errors in the options (an unknown task in Only or From):
// the command line is wrong, nothing ran.
var ErrUsage = errors.New("usage error")

const (
	defaultParallel      = 64
	defaultPerHost       = 8
	defaultRebootTimeout = 10 * time.Minute
)

func (o *Options) defaults() error {
	if o.Parallel <= 0 {
		o.Parallel = defaultParallel
	}
	if o.PerHost <= 0 {
		o.PerHost = defaultPerHost
	}
	if o.RebootTimeout <= 0 {
		o.RebootTimeout = defaultRebootTimeout
	}
	if o.LogDir == "" {
		return fmt.Errorf("%w: no log directory", ErrUsage)
	}
	if o.SSHCommand == nil {
		o.SSHCommand = defaultSSHCommand
	}
	return nil
}

func defaultSSHCommand(h *dsl.Host) string {
	cmd := "ssh"
	if h.Port != 0 && h.Port != 22 {
		cmd += fmt.Sprintf(" -p %d", h.Port)
	}
	addr := h.Address
	if addr == "" {
		addr = h.Name
	}
	if h.User != "" {
		addr = h.User + "@" + addr
	}
	return cmd + " -- " + hosts.ShellQuote(addr)
}

// Run runs the graph and returns the summary of what happened. The error is
// non-nil only when nothing could run (bad options: errors.Is ErrUsage, or
// the log directory cannot be made); node failures are in the summary.
// Cancelling ctx is the Ctrl-C path: no new nodes start, running ones are
// cancelled (the transport ends their remote processes), the state keeps
// what succeeded, and the summary says the run was interrupted.
func Run(ctx context.Context, g Graph, connect Connector, opts Options) (*Summary, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r, err := newRun(g, connect, opts)
	if err != nil {
		return nil, err
	}
	return r.run(ctx), nil
}
