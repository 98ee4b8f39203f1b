package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/executor"
	"github.com/plan-dev/plan/executor/render"
	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/inventory"
)

func init() {
	register(&command{
		name:    "run",
		summary: "run a plan on its hosts over SSH",
		run:     runRun,
	})
}

// Where a run keeps its files by default, relative to the working directory.
const (
	defaultStatePath = ".plan/state.json"
	defaultRunsDir   = ".plan/runs"
)

type runFlags struct {
	parallel  int
	perHost   int
	only      []string
	limit     []string
	from      []string
	force     bool
	dryRun    bool
	failFast  bool
	output    string
	logDir    string
	statePath string
	noState   bool
	acceptNew bool
	perCmd    bool
	verbose   bool
	sshConfig string
}

func runRun(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("run", stderr)
	var pa planArgs
	pa.addFlags(fl)
	var f runFlags
	f.define(fl)
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	if !f.valid(stderr) {
		return exitUsage
	}
	p := pa.load(fl.Args(), stderr)
	if p == nil {
		return exitUsage
	}
	if len(p.Nodes()) == 0 {
		fmt.Fprintln(stderr, "plan run: nothing to run: no task has a host (bind hosts to the plan's groups with -H [GROUP=]HOST[,HOST...])")
		return exitUsage
	}
	limit, err := limitHosts(p, f.limit)
	if err != nil {
		fmt.Fprintf(stderr, "plan run: %v\n", err)
		return exitUsage
	}
	logDir := f.logDir
	if logDir == "" {
		if logDir, err = newRunDir(defaultRunsDir, time.Now()); err != nil {
			fmt.Fprintf(stderr, "plan run: %v\n", err)
			return exitUsage
		}
	}
	var state *executor.State
	if !f.noState { // a dry run reads it (to report what is up to date) but never writes it
		if state, err = executor.OpenState(f.statePath); err != nil {
			fmt.Fprintf(stderr, "plan run: %v\n", err)
			return exitUsage
		}
		defer state.Close()
	}

	red := executor.NewRedactor(p.Secrets()...)
	out := &flushingRedactor{rw: red.Writer(stdout)}
	rend, suspend := f.renderer(stdout, out)
	dialer := hosts.NewDialer(hosts.Options{
		AcceptNewHostKeys: f.acceptNew,
		SessionPerCommand: f.perCmd,
		Prompt:            terminalPrompt(suspend, red),
		// A node holds one session at a time, so the transport's bound is
		// the per-host bound; sftp and cancellation have channels of their
		// own outside it, which is why the default stays below sshd's 10.
		MaxSessions: f.perHost,
	})
	red.Add(dialer.Secrets()...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endpoints, err := resolveHosts(ctx, p, f.sshConfig)
	if err != nil {
		rend.Close()
		fmt.Fprintf(stderr, "plan run: %s\n", red.String(err.Error()))
		return exitUsage
	}
	stopSignals := handleInterrupts(cancel, stderr, boundedFlush(state))
	defer stopSignals()

	sum, err := executor.Run(ctx, p, connectTo(dialer, endpoints), executor.Options{
		Parallel:   f.parallel,
		PerHost:    f.perHost,
		FailFast:   f.failFast,
		DryRun:     f.dryRun,
		Only:       f.only,
		Limit:      limit,
		From:       f.from,
		Force:      f.force,
		LogDir:     logDir,
		State:      state,
		Secrets:    dialer.Secrets(),
		Redactor:   red,
		Sink:       rend.Event,
		SSHCommand: sshCommandFor(endpoints),
	})
	if state != nil && err == nil {
		if ferr := state.Flush(); ferr != nil {
			defer fmt.Fprintf(stderr, "plan run: warning: %s (the next run repeats the nodes it misses)\n", red.String(ferr.Error()))
		}
	}
	rend.Close()
	out.flush()
	if err != nil {
		// Nothing ran: bad --only/--from, or no log directory.
		fmt.Fprintf(stderr, "plan run: %s\n", red.String(err.Error()))
		return exitUsage
	}
	return sum.ExitCode()
}

// define declares the flags of `plan run` on fl.
func (f *runFlags) define(fl *pflag.FlagSet) {
	fl.IntVar(&f.parallel, "parallel", 64, "nodes in flight across all hosts")
	fl.IntVar(&f.perHost, "per-host", 8, "nodes in flight on one host (keep below sshd's MaxSessions, 10 by default)")
	fl.StringArrayVar(&f.only, "only", nil, "run only this task and what it depends on (repeatable)")
	fl.StringArrayVar(&f.limit, "limit", nil, "run only the nodes on these hosts or groups (comma-separated, repeatable) and what they depend on")
	fl.StringArrayVar(&f.from, "from", nil, "run this task and everything after it again, even if up to date (repeatable)")
	fl.BoolVar(&f.force, "force", false, "ignore the run state: run every node")
	fl.BoolVar(&f.dryRun, "dry-run", false, "connect, check guards and files, report what would change; change nothing")
	fl.BoolVar(&f.failFast, "fail-fast", false, "start no new node after the first failure")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json (one event per line)")
	fl.StringVar(&f.logDir, "log-dir", "", "directory for the per-node logs (default "+defaultRunsDir+"/TIMESTAMP)")
	fl.StringVar(&f.statePath, "state", defaultStatePath, "run state file (its key is FILE.key)")
	fl.BoolVar(&f.noState, "no-state", false, "neither read nor write the run state")
	fl.BoolVar(&f.acceptNew, "accept-new-host-keys", false, "record unknown host keys (changed keys are still refused)")
	fl.BoolVar(&f.perCmd, "session-per-command", false, "open an SSH session for every command instead of reusing a shell per host (slower)")
	fl.StringVarP(&f.sshConfig, "ssh-config", "F", "", "ssh_config file to use instead of ~/.ssh/config and /etc/ssh/ssh_config (like ssh -F)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "plain output: also step starts and every output line")
}

// valid checks the flags that parsing alone cannot, saying what is wrong.
func (f *runFlags) valid(stderr io.Writer) bool {
	if f.output != "text" && f.output != "json" {
		fmt.Fprintf(stderr, "plan run: --output must be text or json, not %q\n", f.output)
		return false
	}
	if f.parallel < 1 || f.perHost < 1 {
		fmt.Fprintln(stderr, "plan run: --parallel and --per-host must be at least 1")
		return false
	}
	return true
}

// renderer picks the event renderer for --output and stdout, and how to
// suspend it while a prompt asks on the terminal.
func (f *runFlags) renderer(stdout io.Writer, out io.Writer) (render.Renderer, func(func())) {
	switch {
	case f.output == "json":
		return render.NewJSON(out), func(fn func()) { fn() }
	case isTerminal(stdout) && !f.verbose: // -v asks for every output line: plain lines, also on a terminal
		tty := render.NewTTY(out, func() int { return termWidth(stdout) })
		return tty, tty.Suspend
	default:
		return render.NewPlain(out, f.verbose), func(fn func()) { fn() }
	}
}

// boundedFlush writes the successes the state holds in memory (a moment's
// worth at most) before a second interrupt exits, bounded to 2 s.
func boundedFlush(state *executor.State) func() {
	if state == nil {
		return func() {}
	}
	return func() {
		done := make(chan struct{})
		go func() { state.Flush(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
}

// connectTo dials a plan host at its resolved endpoint.
func connectTo(dialer *hosts.Dialer, endpoints map[string]*hosts.Endpoint) executor.Connector {
	return func(ctx context.Context, h *dsl.Host) (hosts.Transport, error) {
		t, err := dialer.Dial(ctx, endpoints[h.Name])
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}

// sshCommandFor gives the `ssh` line that reaches a host by hand.
func sshCommandFor(endpoints map[string]*hosts.Endpoint) func(*dsl.Host) string {
	return func(h *dsl.Host) string {
		if ep := endpoints[h.Name]; ep != nil {
			return ep.SSHCommand("")
		}
		return "ssh -- " + hosts.ShellQuote(h.Name)
	}
}

// limitHosts turns --limit arguments (host or group names, comma
// separated) into plan host names; an unknown name is an error with a
// suggestion.
func limitHosts(p *dsl.Plan, args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	hostsUsed := map[string]bool{}
	var known []string
	for _, n := range p.Nodes() {
		if !hostsUsed[n.Host.Name] {
			hostsUsed[n.Host.Name] = true
			known = append(known, n.Host.Name)
		}
	}
	groups := map[string]bool{}
	for _, g := range p.Groups() {
		groups[g] = true
		known = append(known, g)
	}
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, arg := range args {
		for _, name := range strings.Split(arg, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "":
				return nil, fmt.Errorf("--limit %s: empty name", dsl.EscapeText(arg))
			case hostsUsed[name]:
				add(name)
			case groups[name]:
				for _, h := range p.GroupHosts(name) {
					if hostsUsed[h.Name] {
						add(h.Name)
					}
				}
			default:
				return nil, fmt.Errorf("--limit: no task runs on a host or group named %s.%s", dsl.EscapeText(name), dsl.DidYouMean(name, known))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--limit %s: no task runs on those hosts", dsl.EscapeText(strings.Join(args, ",")))
	}
	return out, nil
}

// newRunDir makes a fresh per-run log directory under base, named by the
// start time, and points base/latest at it.
func newRunDir(base string, now time.Time) (string, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("make %s: %w", base, err)
	}
	name := now.Format("20060102-150405")
	dir := filepath.Join(base, name)
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			return "", fmt.Errorf("make log directory: %w", err)
		}
		name = fmt.Sprintf("%s-%d", now.Format("20060102-150405"), i)
		dir = filepath.Join(base, name)
	}
	// base/latest -> the newest run; best effort.
	tmp := filepath.Join(base, ".latest.tmp")
	_ = os.Remove(tmp)
	if os.Symlink(name, tmp) == nil {
		_ = os.Rename(tmp, filepath.Join(base, "latest"))
	}
	return dir, nil
}

// resolveHosts turns every host the plan runs on into an ssh Endpoint
// (ssh_config, Vagrant), before anything runs.
func resolveHosts(ctx context.Context, p *dsl.Plan, sshConfig string) (map[string]*hosts.Endpoint, error) {
	var specs []inventory.Spec
	var names []string
	seen := map[string]bool{}
	for _, n := range p.Nodes() {
		h := n.Host
		if seen[h.Name] {
			continue
		}
		seen[h.Name] = true
		names = append(names, h.Name)
		specs = append(specs, hostSpec(h)) // the same mapping as `plan hosts`
	}
	r := inventory.Resolver{ConfigFile: sshConfig}
	eps, err := r.Resolve(ctx, specs)
	if err != nil {
		return nil, fmt.Errorf("resolve hosts: %w", err)
	}
	out := map[string]*hosts.Endpoint{}
	for i, name := range names {
		out[name] = eps[i]
	}
	return out, nil
}

// interruptBound is how long a run may take to stop after the first
// interrupt before plan exits anyway: ending a remote command is bounded
// at 10 s (hosts' kill), so this leaves room for that and the summary,
// while a connection stuck in a way no context reaches cannot keep
// `timeout plan run` or a service manager waiting for ever.
var interruptBound = 30 * time.Second

// exit is os.Exit; tests replace it.
var exit = os.Exit

// handleInterrupts makes the first SIGINT/SIGTERM cancel the run (no new
// nodes, running ones ended, state saved, summary printed) and a second
// one, or interruptBound passing without the run ending, exit at once
// with 130.
func handleInterrupts(cancel context.CancelFunc, stderr io.Writer, beforeExit func()) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "\nplan: interrupted: stopping running nodes and saving state (interrupt again to exit at once)")
		cancel()
		bound := time.NewTimer(interruptBound)
		defer bound.Stop()
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "plan: interrupted twice: exiting now")
		case <-bound.C:
			fmt.Fprintf(stderr, "plan: still stopping %v after the interrupt: exiting now\n", interruptBound)
		case <-done:
			return
		}
		beforeExit()
		exit(executor.ExitInterrupted)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
		})
	}
}

// terminalPrompt asks for passwords on the controlling terminal, with the
// live view suspended; every answer is redacted from then on. Without a
// terminal it returns nil (the environment is the only source).
func terminalPrompt(suspend func(func()), red *executor.Redactor) hosts.PromptFunc {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	var mu sync.Mutex
	return func(ctx context.Context, question string, secret bool) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		var answer []byte
		var err error
		suspend(func() {
			fmt.Fprint(tty, question+" ")
			if secret {
				answer, err = term.ReadPassword(int(tty.Fd()))
				fmt.Fprintln(tty)
				return
			}
			var s string
			_, err = fmt.Fscanln(tty, &s)
			answer = []byte(s)
		})
		if err != nil {
			return "", err
		}
		if secret {
			red.Add(string(answer))
		}
		return string(answer), nil
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func termWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil {
			return width
		}
	}
	return 80
}

// flushingRedactor redacts everything a renderer writes to the terminal or
// pipe, as a last line of defence behind the executor's own redaction. It
// flushes after each write: renderers write whole lines and frames, so no
// secret spans two writes.
type flushingRedactor struct {
	mu sync.Mutex
	rw *executor.RedactWriter
}

func (f *flushingRedactor) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.rw.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rw.Flush()
}

func (f *flushingRedactor) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.rw.Flush()
}
