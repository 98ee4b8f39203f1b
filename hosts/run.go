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
		return ContextError(ctx)
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

// ExportPrefix renders env as `export K='v'; ` in name order: what the
// transport puts before a command, and what a reproduce line shows. A name
// that is not a shell variable name is an error.
func ExportPrefix(env map[string]string) (string, error) {
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
	env, err := ExportPrefix(c.Env)
	if err != nil {
		return fmt.Errorf("%s: %w", t.label(), err)
	}
	var tail TailBuffer
	m, err := t.startMarked(ctx, env+c.Cmd, useSudo, password, orDiscard(c.Stdout), io.MultiWriter(orDiscard(c.Stderr), &tail))
	if err != nil {
		return err
	}
	defer m.release()
	defer m.s.Close()
	filter := m.filter
	var werr error
	ended := make(chan struct{})
	go func() { werr = m.s.Wait(); close(ended) }()
	go feedStdin(m.stdin, c.Stdin, password, filter, ended)
	select {
	case <-ended:
	case <-ctx.Done():
		// stdout may run ahead of the stderr marker: give it a moment.
		select {
		case <-filter.started:
		case <-ended:
		case <-time.After(2 * time.Second):
		}
		t.abort(m.s, filter.pgid(), useSudo, password, ended)
		return fmt.Errorf("%s: %w", t.label(), ContextError(ctx))
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
			return NewExitError(ee.ExitStatus(), "", "sudo: "+msg)
		}
		return exitError(ee, tail.Tail(t.secrets(password)...))
	}
	return fmt.Errorf("%s: %w: %w", t.label(), ErrConnLost, werr)
}

// exitError is the *ExitError for a session that ended with ee.
func exitError(ee *ssh.ExitError, stderrTail string) *ExitError {
	return NewExitError(ee.ExitStatus(), ee.Signal(), stderrTail)
}

// marked is a started session whose shell reports its process group on
// stderr (see startMarked).
type marked struct {
	s       *ssh.Session
	c       *conn
	release func() // frees the session's slot
	stdin   io.WriteCloser
	filter  *stderrFilter
}

// startMarked opens a session that runs body with /bin/sh -c (under sudo
// when asked). Before body the shell reports its process group on stderr
// behind a random marker, read from /proc because the shell may not lead
// the group under sudo's pty ($$ otherwise); the filter removes that line
// and sudo's prompt, and passes the rest of stderr to stderr.
func (t *SSH) startMarked(ctx context.Context, body string, useSudo bool, password string, stdout, stderr io.Writer) (*marked, error) {
	marker := "plan-pgid-" + randomToken()
	inner := `read -r _ _ _ _ plan_pg _ 2>/dev/null </proc/$$/stat; printf '%s %s\n' ` + marker +
		` "${plan_pg:-$$}" >&2; unset plan_pg; ` + body
	remote, prompt := t.remoteCommand(inner, useSudo, password)

	s, c, release, err := t.session(ctx, false)
	if err != nil {
		return nil, err
	}
	m := &marked{s: s, c: c, release: release, filter: newStderrFilter(marker, prompt, stderr)}
	s.Stdout, s.Stderr = stdout, m.filter
	if m.stdin, err = s.StdinPipe(); err != nil {
		s.Close()
		release()
		return nil, fmt.Errorf("%s: stdin: %w", t.label(), err)
	}
	if err := s.Start(remote); err != nil {
		s.Close()
		release()
		return nil, fmt.Errorf("%s: start: %w: %w", t.label(), ErrConnLost, err)
	}
	return m, nil
}

// abort ends a session whose command was cancelled: its process group is
// killed through a second session (see kill), then the session is closed
// and, bounded, waited for (ended is closed when its Wait returned).
func (t *SSH) abort(s *ssh.Session, pgid int, useSudo bool, password string, ended <-chan struct{}) {
	t.kill(pgid, useSudo, password)
	s.Signal(ssh.SIGKILL)
	s.Close()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
	}
}

// feedStdin writes the sudo password (see sendPassword) and then the
// command's stdin. With a password, the command's stdin is held back until
// the command has started, so a rejected password can never make sudo read
// the caller's data as a second attempt. It returns (closing w) once the
// session has ended, whatever sudo did.
func feedStdin(w io.WriteCloser, r io.Reader, password string, f *stderrFilter, ended <-chan struct{}) {
	defer w.Close()
	if !sendPassword(w, password, f, ended) {
		return
	}
	if r != nil {
		io.Copy(w, r)
	}
}

// sendPassword writes the sudo password on w only once sudo's unique
// prompt has appeared on stderr, never before: when sudo does not ask (a
// NOPASSWD rule, a command sudoers lets through), the command starts
// without a prompt and the password, which would otherwise be its stdin,
// is not sent at all. It reports whether the command started (stdin may
// follow); it returns false when the password was rejected or the session
// ended first (not in sudoers, connection lost, cancelled at the prompt).
func sendPassword(w io.Writer, password string, f *stderrFilter, ended <-chan struct{}) bool {
	if password == "" {
		return true
	}
	select {
	case <-f.prompted:
	case <-f.started:
		return true // sudo did not ask: the password is not used
	case <-ended:
		return false
	}
	if _, err := io.WriteString(w, password+"\n"); err != nil {
		return false
	}
	select {
	case <-f.started:
		return true
	case <-f.badPassword:
	case <-ended:
	}
	return false
}

// secrets are the strings redacted from stderr tails: the sudo password in
// use and every secret the Dialer knows.
func (t *SSH) secrets(extra string) []string {
	return append(t.d.Secrets(), extra)
}
