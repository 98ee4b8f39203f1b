package dsl

// This file is the contract between dsl and its users (cmd/plan, executor).
// Change it only together with them.

import (
	"io/fs"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Options are the inputs of Load besides the plan files.
type Options struct {
	// Vars are --var k=v assignments, in command-line order.
	Vars []string
	// VarFiles are --var-file paths (HCL attribute files).
	VarFiles []string
	// Environ is the process environment; PLAN_VAR_name entries set
	// variables (lowest precedence after defaults).
	Environ []string
	// Hosts are the -H arguments, raw: "[GROUP=]HOST[,HOST...]" where HOST
	// is "[user@]name[:port]".
	Hosts []string
	// FS, when set, is where plan paths and file()/templatefile() paths are
	// read from (embedded built-in plans). Nil means the OS file system.
	FS fs.FS
}

// Host is a host as the plan sees it, after -H bindings. Resolution of the
// address through ssh_config/DNS is the hosts package's job, not dsl's.
type Host struct {
	Name    string            // the plan's host name (block label or -H name)
	Address string            // "" when neither the plan nor -H gave one
	User    string            // "" when unset
	Port    int               // 0 when unset
	Vars    map[string]string // the host block's vars (target.vars)
	Groups  []string          // groups it belongs to, in plan order
	Range   hcl.Range         // host block or -H argument
}

// Node is one (task, host) pair of the static graph.
type Node struct {
	ID      string // "TASK[HOST]"
	Task    string
	Host    *Host
	Deps    []*Node // the nodes that must finish (ok) before this one starts
	Sudo    bool
	Timeout time.Duration // 0 = none; bounds the whole node
	Retry   Retry
	Range   hcl.Range // the task block's header
	// Rolling is the task's serial and max_fail_percentage, nil when its
	// hosts all run at once; Batch is the node's batch, from 0.
	Rolling *Rolling
	Batch   int
	// AlwaysRun is the task's always_run: the node runs on every run, the
	// run state never takes it for up to date.
	AlwaysRun bool
}

// Retry is a task's retry block; Attempts counts tries, so 1 means once.
type Retry struct {
	Attempts int
	Delay    time.Duration
}

// StepKind is the kind of an ordered step in a task.
type StepKind string

const (
	StepRun    StepKind = "run"
	StepScript StepKind = "script"
	StepFile   StepKind = "file"
	StepFetch  StepKind = "fetch"
	StepReboot StepKind = "reboot"
)

// Step is one fully evaluated step, ready to execute.
type Step struct {
	Kind  StepKind
	Name  string
	Range hcl.Range

	// run: Command. script: Script (the text sent on stdin to Interpreter,
	// default "/bin/sh -s").
	Command     string
	Script      string
	Interpreter string
	// ReadOnly is `changed = false` on a run or script step: the command only
	// reads the host (facts, checks), so running it is not a change.
	ReadOnly bool

	// file: Destination plus Content or Source (a local path, already
	// resolved against the plan file's directory; Source is read through
	// SourceFS when that is non-nil, e.g. for embedded plans).
	Destination string
	Content     []byte
	Source      string
	SourceFS    fs.FS
	Mode        fs.FileMode // 0 = default
	Owner       string
	Group       string

	// fetch: Source is the remote path (gives step.NAME.content); with
	// Destination, a local path (relative to the working directory), the
	// file streams there instead (mode 0600) and content stays empty.

	// Guards. Creates: skip when this remote path exists. Unless: skip when
	// this remote command exits 0. When was already evaluated: a step whose
	// when is false is not returned as runnable (see Evaluator.Step).
	Creates string
	Unless  string

	Sudo    bool
	Env     map[string]string
	Timeout time.Duration // 0 = the task's
	Retry   Retry         // the task's retry unless the step sets its own
}

// StepResult is what running a step produced; the evaluator turns it into
// step.NAME.stdout|stderr|exit_code|content|changed for later expressions.
type StepResult struct {
	Stdout   string
	Stderr   string
	ExitCode int
	Content  []byte // fetch
	Changed  bool
	Skipped  bool // a guard (creates/unless/when) skipped it
}

// Upstream gives the outputs of finished nodes to the late phase.
type Upstream interface {
	// Outputs returns the output values of task on host, false when that
	// node has not produced them (yet).
	Outputs(task, host string) (map[string]cty.Value, bool)
}

// Evaluator evaluates one node's body late, step by step, because a step
// may refer to the results of the steps before it. Usage:
//
//	ev, diags := plan.Evaluator(node, upstream)
//	ok, diags := ev.When()           // task-level when
//	for i := 0; i < ev.Len(); i++ {
//		step, run, diags := ev.Step(i) // run false: the step's when is false
//		... execute ...
//		ev.Record(i, result)
//	}
//	outs, diags := ev.Outputs()
//
// Values marked sensitive are returned as plain text in Step (the host needs
// them); Secrets lists every sensitive string the node has seen so far so the
// executor can redact them from all output, logs and state.
type Evaluator interface {
	When() (bool, hcl.Diagnostics)
	Len() int
	StepName(i int) string
	StepKind(i int) StepKind
	Step(i int) (step *Step, run bool, diags hcl.Diagnostics)
	Record(i int, r StepResult)
	// Outputs returns the node's output values; those marked sensitive carry
	// the cty mark "sensitive" (see Sensitive).
	Outputs() (map[string]cty.Value, hcl.Diagnostics)
	Secrets() []string
	// Fingerprint is a stable digest of everything the node's behaviour
	// depends on: the task body's source, and the values of every variable,
	// local, host attribute and upstream output it refers to. Run state uses
	// it to skip nodes that already succeeded with the same inputs.
	Fingerprint() string
}

// Sensitive is the cty value mark for sensitive values.
const Sensitive = "sensitive"

// The entry points (implemented in load.go and friends):
//
//	func Load(paths []string, opts Options) (*Plan, hcl.Diagnostics)
//	    paths: files and/or directories (every *.hcl in a directory), one
//	    namespace. Runs the whole static phase and the offline type check.
//	func (p *Plan) Hosts() []*Host            // in plan order, then -H order
//	func (p *Plan) Nodes() []*Node            // a deterministic topological order
//	func (p *Plan) Evaluator(n *Node, up Upstream) (Evaluator, hcl.Diagnostics)
//	func (p *Plan) Files() map[string]*hcl.File // for printing diagnostics
//	func (p *Plan) Secrets() []string           // sensitive strings known statically
