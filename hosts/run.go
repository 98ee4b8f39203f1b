package hosts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Run implements Transport.
//
// Commands go to a reused shell on the host when they can (see shell.go):
// the same `/bin/sh -c CMD` without a session of their own. Otherwise, and
// with Options.SessionPerCommand:
//
// The command runs as `/bin/sh -c CMD` (under `sudo -S -k -p PROMPT` with
// Sudo when the user is not root). Before CMD the shell reports its
// process group on stderr with a random marker; the marker line is removed
// from the stream, and cancellation kills that whole group through a second
// session (with sudo when the command ran with sudo), so nothing keeps
// running on the host.
func (t *SSH) Run(ctx context.Context, c *Command) error {
	if err := ctx.Err(); err != nil {
		return ctxError(ctx)
	}
	useSudo := c.Sudo && t.ep.User != "root"
	var password string
	if useSudo {
		var err error
		if password, err = t.sudoPassword(ctx); err != nil {
			return err
		}
	}
	cc := *c // runInShell may replace Stdin with what it buffered
	if err := t.runInShell(ctx, &cc, useSudo, password); err != errNoShell {
		return err
	}
	return t.run(ctx, &cc, useSudo, password)
}

// remoteCommand is the session command that runs inner with /bin/sh -c,
// under sudo when asked (with a unique prompt to find on stderr when a
// password is fed on stdin).
func (t *SSH) remoteCommand(inner string, useSudo bool, password string) (remote, prompt string) {
	if !useSudo {
		return "exec /bin/sh -c " + ShellQuote(inner), ""
	}
	if password != "" {
		prompt = "[plan-sudo-" + randomToken() + "]"
		return "exec sudo -S -k -p " + ShellQuote(prompt) + " -- /bin/sh -c " + ShellQuote(inner), prompt
	}
	return "exec sudo -n -- /bin/sh -c " + ShellQuote(inner), ""
}

func randomToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// exportPrefix renders env as `export K='v'; ` in a stable order.
func exportPrefix(env map[string]string) (string, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		if !validEnvName(k) {
			return "", fmt.Errorf("bad environment variable name %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s; ", k, ShellQuote(env[k]))
	}
	return b.String(), nil
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (t *SSH) run(ctx context.Context, c *Command, useSudo bool, password string) error {
	env, err := exportPrefix(c.Env)
	if err != nil {
		return fmt.Errorf("%s: %w", t.label(), err)
	}
	marker := "plan-pgid-" + randomToken()
	// read the process group from /proc (the shell may not lead it under
	// sudo's pty); fall back to $$.
	inner := `read -r _ _ _ _ plan_pg _ 2>/dev/null </proc/$$/stat; printf '%s %s\n' ` + marker +
		` "${plan_pg:-$$}" >&2; unset plan_pg; ` + env + c.Cmd
	remote, prompt := t.remoteCommand(inner, useSudo, password)

	s, _, release, err := t.session(ctx, false)
	if err != nil {
		return err
	}
	defer release()
	defer s.Close()

	var tail tailBuffer
	filter := &stderrFilter{marker: marker, prompt: prompt, out: io.MultiWriter(orDiscard(c.Stderr), &tail), started: make(chan struct{}), badPassword: make(chan struct{})}
	s.Stdout = orDiscard(c.Stdout)
	s.Stderr = filter
	stdin, err := s.StdinPipe()
	if err != nil {
		return fmt.Errorf("%s: stdin: %w", t.label(), err)
	}
	if err := s.Start(remote); err != nil {
		return fmt.Errorf("%s: start: %w: %w", t.label(), ErrConnLost, err)
	}
	go feedStdin(stdin, c.Stdin, password, filter)

	waited := make(chan error, 1)
	go func() { waited <- s.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		// stdout may run ahead of the stderr marker: give it a moment.
		select {
		case <-filter.started:
		case e := <-waited:
			waited <- e // still wanted below
		case <-time.After(2 * time.Second):
		}
		t.kill(filter.pgid(), useSudo, password)
		s.Signal(ssh.SIGKILL)
		s.Close()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
		}
		return fmt.Errorf("%s: %w", t.label(), ctxError(ctx))
	}
	filter.flush()
	if filter.rejected() {
		t.d.forget("sudo-password")
		return fmt.Errorf("%s: sudo as %s: %w", t.label(), t.ep.User, ErrSudoPassword)
	}
	if werr == nil {
		return nil
	}
	var ee *ssh.ExitError
	if errors.As(werr, &ee) {
		if !filter.hasStarted() && useSudo {
			msg := tail.Tail(t.secrets(password)...)
			if password == "" && strings.Contains(msg, "password") {
				return fmt.Errorf("%s: sudo -n: %w: %s", t.label(), ErrSudoPassword, msg)
			}
			return &ExitError{Code: ee.ExitStatus(), StderrTail: "sudo: " + msg}
		}
		xe := &ExitError{Code: ee.ExitStatus(), StderrTail: tail.Tail(t.secrets(password)...)}
		if sig := ee.Signal(); sig != "" {
			xe.Code, xe.Signal = -1, sig
		}
		return xe
	}
	return fmt.Errorf("%s: %w: %w", t.label(), ErrConnLost, werr)
}

// feedStdin writes the sudo password (when any) and then the command's
// stdin. With a password, the command's stdin is held back until the
// command has started, so a rejected password can never make sudo read the
// caller's data as a second attempt.
func feedStdin(w io.WriteCloser, r io.Reader, password string, f *stderrFilter) {
	defer w.Close()
	if password != "" {
		if _, err := io.WriteString(w, password+"\n"); err != nil {
			return
		}
		select {
		case <-f.started:
		case <-f.badPassword:
			return
		}
	}
	if r != nil {
		io.Copy(w, r)
	}
}

// secrets are the strings redacted from stderr tails: the sudo password in
// use and every secret the Dialer knows.
func (t *SSH) secrets(extra string) []string {
	return append(t.d.Secrets(), extra)
}
