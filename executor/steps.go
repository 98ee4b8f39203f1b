package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts"
)

// stepRun is what running a step (all its attempts) produced.
type stepRun struct {
	result dsl.StepResult
	stderr string // of the last attempt, raw (redact before showing)
}

// execStep runs one step with its retries. A nil failure means success.
func (r *run) execStep(ctx context.Context, t hosts.Transport, nr *nodeRun, step *dsl.Step, nl *nodeLog) (stepRun, *stepFailure) {
	n := nr.n
	retry := step.Retry
	if retry.Attempts <= 0 {
		retry = n.Retry
	}
	attempts := max(retry.Attempts, 1)
	var sr stepRun
	var fail *stepFailure
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			nl.note(fmt.Sprintf("   retrying in %s (attempt %d of %d)", retry.Delay, attempt, attempts))
			if err := sleepCtx(ctx, retry.Delay); err != nil {
				return sr, r.stepFailure(ctx, err)
			}
		}
		nl.note(fmt.Sprintf("== %s %s%s", step.Kind, step.Name, attemptNote(attempt, attempts)))
		r.emit(Event{Kind: EventStepStarted, Node: n.ID, Task: n.Task, Host: n.Host.Name,
			Step: step.Name, StepKind: string(step.Kind), Attempt: attempt})
		start := time.Now()
		sr, fail = r.attemptStep(ctx, t, n, step, nl)
		ev := Event{Kind: EventStepFinished, Node: n.ID, Task: n.Task, Host: n.Host.Name,
			Step: step.Name, StepKind: string(step.Kind), Attempt: attempt, Duration: time.Since(start)}
		switch {
		case fail != nil:
			ev.Status, ev.Error, ev.ExitCode = StatusFailed, fail.err.Error(), fail.exitCode
			nl.note("   failed: " + fail.err.Error())
		case sr.result.Skipped:
			ev.Status, ev.Reason = StatusOK, "guard: already done"
			nl.note("   skipped by its guard")
		case sr.result.Changed:
			ev.Status = StatusChanged
		default:
			ev.Status = StatusOK
		}
		r.emit(ev)
		// Never retry what the user or the run interrupted.
		if fail == nil || fail.interrupted {
			break
		}
	}
	return sr, fail
}

func attemptNote(attempt, attempts int) string {
	if attempts == 1 {
		return ""
	}
	return fmt.Sprintf(" (attempt %d of %d)", attempt, attempts)
}

// attemptStep runs a step once: guards first, then the step's action.
func (r *run) attemptStep(ctx context.Context, t hosts.Transport, n *dsl.Node, step *dsl.Step, nl *nodeLog) (sr stepRun, fail *stepFailure) {
	// A reboot's timeout bounds the wait for the host to come back (see
	// reboot), not the whole attempt.
	if step.Timeout > 0 && step.Kind != dsl.StepReboot {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, step.Timeout)
		defer cancel()
	}
	skip, err := r.guardsSayDone(ctx, t, step, nl)
	if err != nil {
		return sr, r.stepFailure(ctx, err)
	}
	if skip {
		sr.result.Skipped = true
		return sr, nil
	}
	stdout := nl.writer(step.Name, "stdout")
	stderr := nl.writer(step.Name, "stderr")
	defer func() {
		sr.result.Stdout = stdout.String()
		sr.result.Stderr = stderr.String()
		sr.stderr = sr.result.Stderr
	}()

	switch step.Kind {
	case dsl.StepRun, dsl.StepScript:
		fail = r.commandStep(ctx, t, step, nl, stdout, stderr, &sr.result)
	case dsl.StepFile:
		fail = r.fileStep(ctx, t, n, step, nl, stderr, &sr.result)
	case dsl.StepFetch:
		fail = r.fetchStep(ctx, t, step, nl, &sr.result)
	case dsl.StepReboot:
		fail = r.rebootStep(ctx, t, step, nl, &sr.result)
	default:
		fail = &stepFailure{err: fmt.Errorf("unknown step kind %q", step.Kind)}
	}
	return sr, fail
}

// commandStep runs a run or script step's command.
func (r *run) commandStep(ctx context.Context, t hosts.Transport, step *dsl.Step, nl *nodeLog, stdout, stderr *streamWriter, res *dsl.StepResult) *stepFailure {
	if r.opts.DryRun {
		nl.note("   dry run: would run")
		res.Changed = !step.ReadOnly
		return nil
	}
	c := &hosts.Command{Cmd: step.Command, Env: step.Env, Sudo: step.Sudo, Stdout: stdout, Stderr: stderr}
	if step.Kind == dsl.StepScript {
		c.Cmd = interpreter(step)
		c.Stdin = strings.NewReader(step.Script)
	}
	err := t.Run(ctx, c)
	if code, ok := exitCodeOf(err); ok {
		res.ExitCode = code
	}
	if err != nil {
		return r.stepFailure(ctx, err)
	}
	for _, w := range []*streamWriter{stdout, stderr} {
		if err := w.tooBig(); err != nil {
			return &stepFailure{err: err}
		}
	}
	// A command that ran is assumed to have changed the host; guards
	// (creates, unless) are how a plan says it did not need to run, and
	// `changed = false` how it says the command only reads.
	res.Changed = !step.ReadOnly
	return nil
}

// fileStep pushes a file step's content or source to its destination.
func (r *run) fileStep(ctx context.Context, t hosts.Transport, n *dsl.Node, step *dsl.Step, nl *nodeLog, stderr *streamWriter, res *dsl.StepResult) *stepFailure {
	u := &hosts.Upload{Path: step.Destination, Mode: step.Mode, Owner: step.Owner,
		Group: step.Group, Sudo: step.Sudo, DryRun: r.opts.DryRun}
	switch {
	case step.Content != nil || step.Source == "":
		u.Content = step.Content
		if u.Content == nil {
			u.Content = []byte{}
		}
	case step.SourceFS != nil:
		data, err := fs.ReadFile(step.SourceFS, step.Source)
		if err != nil {
			return &stepFailure{err: fmt.Errorf("read %s: %w", step.Source, err)}
		}
		u.Content = data
	default:
		// Checked here so that "not found" below can only mean the
		// remote directory.
		if _, err := os.Stat(step.Source); err != nil {
			return &stepFailure{err: fmt.Errorf("local source: %w", err)}
		}
		u.LocalPath = step.Source
		if nl.sources == nil {
			nl.sources = map[string]string{}
		}
		nl.sources[step.Source] = sourceStamp(step.Source)
	}
	u.Progress = r.progress(n, step)
	pr, err := t.Push(ctx, u)
	if err != nil && errors.Is(err, fs.ErrNotExist) && !r.opts.DryRun {
		// The destination's directory is missing: make it (as the
		// file's owner would see it made by `install -D`) and try once
		// more.
		dir := dirOf(step.Destination)
		mk := &hosts.Command{Cmd: "mkdir -p " + hosts.ShellQuote(dir), Sudo: step.Sudo, Stderr: stderr}
		if merr := t.Run(ctx, mk); merr != nil {
			return r.stepFailure(ctx, fmt.Errorf("%w (and mkdir -p %s: %v)", err, dir, merr))
		}
		nl.note("   made directory " + dir)
		pr, err = t.Push(ctx, u)
	}
	if err != nil {
		return r.stepFailure(ctx, err)
	}
	res.Changed = pr.Changed
	if pr.Changed {
		verb := "pushed"
		if r.opts.DryRun {
			verb = "dry run: would push"
		}
		nl.note(fmt.Sprintf("   %s %s (sha256 %s)", verb, step.Destination, pr.SHA256))
	} else {
		nl.note(fmt.Sprintf("   %s already up to date (sha256 %s)", step.Destination, pr.SHA256))
	}
	return nil
}

// fetchStep reads a fetch step's remote file into step.NAME.content.
func (r *run) fetchStep(ctx context.Context, t hosts.Transport, step *dsl.Step, nl *nodeLog, res *dsl.StepResult) *stepFailure {
	if step.Destination != "" {
		return r.fetchToLocal(ctx, t, step, nl)
	}
	data, err := t.Fetch(ctx, &hosts.Download{Path: step.Source, Sudo: step.Sudo, MaxBytes: MaxStepValue})
	if errors.Is(err, hosts.ErrTooLarge) {
		err = fmt.Errorf("%w; step.%s.content holds at most %d MiB: copy big files with a run step", err, step.Name, MaxStepValue>>20)
	}
	if err != nil {
		return r.stepFailure(ctx, err)
	}
	res.Content = data
	nl.note(fmt.Sprintf("   fetched %s (%d bytes)", step.Source, len(data)))
	return nil
}

// rebootStep reboots the host and waits for it to come back.
func (r *run) rebootStep(ctx context.Context, t hosts.Transport, step *dsl.Step, nl *nodeLog, res *dsl.StepResult) *stepFailure {
	if r.opts.DryRun {
		nl.note("   dry run: would reboot")
		res.Changed = true
		return nil
	}
	if err := r.reboot(ctx, t, step, nl); err != nil {
		return r.stepFailure(ctx, err)
	}
	res.Changed = true
	return nil
}

func interpreter(step *dsl.Step) string {
	if step.Interpreter != "" {
		return step.Interpreter
	}
	return "/bin/sh -s"
}

// guardsSayDone runs the step's creates and unless guards; true means the
// step is already done and is skipped (status ok).
func (r *run) guardsSayDone(ctx context.Context, t hosts.Transport, step *dsl.Step, nl *nodeLog) (bool, error) {
	if step.Creates != "" {
		done, err := guard(ctx, t, "test -e "+hosts.ShellQuote(step.Creates), nil, step.Sudo)
		if err != nil {
			return false, fmt.Errorf("guard creates: %w", err)
		}
		if done {
			nl.note(fmt.Sprintf("   creates: %s exists", step.Creates))
			return true, nil
		}
	}
	if step.Unless != "" {
		done, err := guard(ctx, t, step.Unless, step.Env, step.Sudo)
		if err != nil {
			return false, fmt.Errorf("guard unless: %w", err)
		}
		if done {
			nl.note("   unless: exited 0")
			return true, nil
		}
	}
	return false, nil
}

// guard runs a check command: exit 0 means true, another exit status false,
// anything else (the command's fate unknown) an error.
func guard(ctx context.Context, t hosts.Transport, cmd string, env map[string]string, sudo bool) (bool, error) {
	err := t.Run(ctx, &hosts.Command{Cmd: cmd, Env: env, Sudo: sudo})
	if err == nil {
		return true, nil
	}
	if _, ok := exitCodeOf(err); ok {
		return false, nil
	}
	return false, err
}

// progress returns the push progress callback, throttled so a large file
// does not flood the renderers.
func (r *run) progress(n *dsl.Node, step *dsl.Step) func(sent, total int64) {
	var last time.Time
	return func(sent, total int64) {
		if sent < total && time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		r.emit(Event{Kind: EventPushProgress, Node: n.ID, Task: n.Task, Host: n.Host.Name,
			Step: step.Name, StepKind: string(step.Kind), Sent: sent, Total: total})
	}
}

// stepFailure classifies err, telling a timeout or an interrupt apart from
// a command that failed.
func (r *run) stepFailure(ctx context.Context, err error) *stepFailure {
	f := &stepFailure{err: err}
	if code, ok := exitCodeOf(err); ok {
		f.exitCode = &code
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		f.err = fmt.Errorf("timed out: %w", err)
	case ctx.Err() != nil:
		f.err = fmt.Errorf("interrupted: %w", err)
		f.interrupted = true
		f.exitCode = nil
	}
	return f
}

// rebootPoll is how often a rebooting host is asked for its boot id.
var rebootPoll = 2 * time.Second

// reboot reboots the host and waits until it answers with a new boot id.
func (r *run) reboot(ctx context.Context, t hosts.Transport, step *dsl.Step, nl *nodeLog) error {
	before, err := bootID(ctx, t, step.Sudo)
	if err != nil {
		return fmt.Errorf("read boot id: %w", err)
	}
	timeout := step.Timeout
	if timeout <= 0 {
		timeout = r.opts.RebootTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Detached and delayed, so the command returns before the connection
	// drops; a lost connection here is expected and ignored.
	cmd := "nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 &"
	if err := t.Run(wctx, &hosts.Command{Cmd: cmd, Sudo: step.Sudo}); err != nil {
		if _, ok := exitCodeOf(err); ok {
			return fmt.Errorf("reboot: %w", err)
		}
	}
	nl.note("   rebooting; waiting for a new boot id (boot id before: " + before + ")")
	for {
		if err := sleepCtx(wctx, rebootPoll); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("host not back with a new boot id within %s: %w", timeout, hosts.ErrTimeout)
		}
		actx, acancel := context.WithTimeout(wctx, 20*time.Second)
		id, err := bootID(actx, t, step.Sudo)
		acancel()
		if err == nil && id != before {
			nl.note("   back up (boot id " + id + ")")
			return nil
		}
	}
}

func bootID(ctx context.Context, t hosts.Transport, sudo bool) (string, error) {
	var out strings.Builder
	err := t.Run(ctx, &hosts.Command{Cmd: "cat /proc/sys/kernel/random/boot_id", Stdout: &out})
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out.String())
	if id == "" {
		return "", errors.New("empty boot id")
	}
	return id, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reproduce is the command line a person can paste to run the failed step
// by hand (the caller redacts it once more). Every piece is redacted
// before it is quoted: quoting rewrites a secret that holds a single
// quote (each quote becomes quote, backslash, quote, quote), which the
// redactor would then no longer find.
func (r *run) reproduce(h *dsl.Host, step *dsl.Step) string {
	ssh := r.opts.SSHCommand(h)
	red := r.red.String
	var remote string
	switch step.Kind {
	case dsl.StepRun:
		remote = red(step.Command)
	case dsl.StepScript:
		remote = red(interpreter(step))
	case dsl.StepFile:
		dest := red(step.Destination)
		return fmt.Sprintf("%s %s", ssh, hosts.ShellQuote("ls -ld "+hosts.ShellQuote(dest)+" "+hosts.ShellQuote(dirOf(dest))))
	case dsl.StepFetch:
		remote = "cat " + hosts.ShellQuote(red(step.Source))
	case dsl.StepReboot:
		remote = "cat /proc/sys/kernel/random/boot_id"
	}
	if len(step.Env) > 0 {
		env := make(map[string]string, len(step.Env))
		for k, v := range step.Env {
			env[k] = red(v)
		}
		// A bad name failed the step before it ran; the line then shows
		// the command alone.
		if prefix, err := hosts.ExportPrefix(env); err == nil {
			remote = prefix + remote
		}
	}
	if step.Sudo {
		remote = "sudo sh -c " + hosts.ShellQuote(remote)
	}
	line := ssh + " " + hosts.ShellQuote(remote)
	if step.Kind == dsl.StepScript {
		line += " < SCRIPT   # the script of step " + step.Name + " (see `plan render`)"
	}
	return line
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i > 0 {
		return p[:i]
	}
	return "/"
}

// fetchToLocal streams a remote file into a local one (a backup, say): to
// a temp file beside it, renamed into place, mode 0600 (it may hold
// secrets); the content is never kept in memory or shown. A dry run only
// says where it would go: writing on the operator's machine is a change.
func (r *run) fetchToLocal(ctx context.Context, t hosts.Transport, step *dsl.Step, nl *nodeLog) *stepFailure {
	if r.opts.DryRun {
		nl.note(fmt.Sprintf("   dry run: would fetch %s to local %s", step.Source, step.Destination))
		return nil
	}
	if dir := filepath.Dir(step.Destination); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return &stepFailure{err: fmt.Errorf("fetch %s: make local directory: %w", step.Source, err)}
		}
	}
	if _, err := t.Fetch(ctx, &hosts.Download{Path: step.Source, Sudo: step.Sudo, LocalPath: step.Destination}); err != nil {
		return r.stepFailure(ctx, err)
	}
	size := int64(-1)
	if fi, err := os.Stat(step.Destination); err == nil {
		size = fi.Size()
	}
	nl.note(fmt.Sprintf("   fetched %s to local %s (%d bytes)", step.Source, step.Destination, size))
	return nil
}
