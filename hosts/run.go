package hosts

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Run implements Transport.
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
	return t.run(ctx, c, useSudo, password)
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
	remote := "exec /bin/sh -c " + ShellQuote(inner)
	prompt := ""
	if useSudo {
		if password != "" {
			prompt = "[plan-sudo-" + randomToken() + "]"
			remote = "exec sudo -S -k -p " + ShellQuote(prompt) + " -- /bin/sh -c " + ShellQuote(inner)
		} else {
			remote = "exec sudo -n -- /bin/sh -c " + ShellQuote(inner)
		}
	}

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

// kill ends the remote process group through a fresh session: TERM, a
// short grace, then KILL.
func (t *SSH) kill(pgid int, useSudo bool, password string) {
	if pgid <= 1 {
		return
	}
	g := strconv.Itoa(pgid)
	script := "kill -TERM -" + g + " 2>/dev/null || exit 0; i=0; while [ $i -lt 20 ]; do kill -0 -" + g +
		" 2>/dev/null || exit 0; sleep 0.1; i=$((i+1)); done; kill -KILL -" + g + " 2>/dev/null; exit 0"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, _, release, err := t.session(ctx, true)
	if err != nil {
		return
	}
	defer release()
	defer s.Close()
	cmd := "/bin/sh -c " + ShellQuote(script)
	if useSudo {
		if password != "" {
			s.Stdin = strings.NewReader(password + "\n")
			cmd = "sudo -S -k -p '' -- " + cmd
		} else {
			cmd = "sudo -n -- " + cmd
		}
	}
	done := make(chan struct{})
	go func() { s.Run(cmd); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// stderrFilter removes sudo's prompt and the process-group marker line
// from stderr, and notices a rejected sudo password (the prompt shown a
// second time).
type stderrFilter struct {
	marker, prompt string
	out            io.Writer

	mu          sync.Mutex
	buf         []byte // before the marker
	started     chan struct{}
	badPassword chan struct{}
	bad         bool
	pg          int
	prompts     int
}

func (f *stderrFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pg != 0 {
		return f.passThrough(p, len(p))
	}
	f.buf = append(f.buf, p...)
	if f.prompt != "" {
		if n := bytes.Count(f.buf, []byte(f.prompt)); n > 1 && !f.bad {
			f.bad = true
			close(f.badPassword)
		}
	}
	i := bytes.Index(f.buf, []byte(f.marker+" "))
	if i < 0 {
		return len(p), nil
	}
	end := bytes.IndexByte(f.buf[i:], '\n')
	if end < 0 {
		return len(p), nil
	}
	pg, _ := strconv.Atoi(string(f.buf[i+len(f.marker)+1 : i+end]))
	if pg == 0 {
		pg = -1
	}
	f.pg = pg
	close(f.started)
	// What came before the marker is sudo's chatter (prompt, lecture) or
	// login-shell noise, never the command's: drop it.
	rest := f.buf[i+end+1:]
	f.buf = nil
	return f.passThrough(rest, len(p))
}

func (f *stderrFilter) passThrough(p []byte, n int) (int, error) {
	if len(p) > 0 {
		if _, err := f.out.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// flush writes what came before a marker that never came (sudo failed):
// prompts removed.
func (f *stderrFilter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pg != 0 || len(f.buf) == 0 {
		return
	}
	b := f.buf
	if f.prompt != "" {
		b = bytes.ReplaceAll(b, []byte(f.prompt), nil)
	}
	f.out.Write(b)
	f.buf = nil
}

func (f *stderrFilter) pgid() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pg
}

func (f *stderrFilter) hasStarted() bool { return f.pgid() != 0 }

func (f *stderrFilter) rejected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bad {
		return true
	}
	// sudo gave up without a second prompt (stdin closed): it says so.
	return f.pg == 0 && f.prompt != "" && bytes.Contains(f.buf, []byte("incorrect password"))
}

// sudoPassword probes once per connection whether sudo needs a password
// (`sudo -n true`); only then is the run's sudo password fetched (asked
// once per run or PLAN_SUDO_PASSWORD). Hosts that need none never get it.
func (t *SSH) sudoPassword(ctx context.Context) (string, error) {
	t.mu.Lock()
	known := t.sudoPwd
	t.mu.Unlock()
	if known == nil {
		perr := t.run(ctx, &Command{Cmd: "sudo -n true 2>/dev/null"}, false, "")
		var ee *ExitError
		if perr != nil && !errors.As(perr, &ee) {
			return "", perr
		}
		need := perr != nil
		t.mu.Lock()
		t.sudoPwd = &need
		known = &need
		t.mu.Unlock()
	}
	if !*known {
		return "", nil
	}
	p, err := t.d.secret(ctx, "sudo-password", EnvSudoPassword, fmt.Sprintf("[sudo] password for %s: ", t.ep.Destination()))
	if err != nil {
		return "", &kindError{kind: ErrSudoPassword, err: fmt.Errorf("%s: sudo as %s needs a password: %w", t.label(), t.ep.User, err)}
	}
	return p, nil
}

// secrets are the strings redacted from stderr tails: the sudo password in
// use and every secret the Dialer knows.
func (t *SSH) secrets(extra string) []string {
	return append(t.d.Secrets(), extra)
}
