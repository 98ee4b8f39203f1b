package hosts

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Reused shells.
//
// Opening a session costs the host a fork of sshd's session process and a
// start of the user's login shell (~15–20 ms on the lab, most of a short
// step). So Run keeps, per host and per sudo mode, a few long-lived
// /bin/sh processes ("shells"), each in a session of its own, and sends
// consecutive commands to an idle one over its stdin. Each command still
// runs as `/bin/sh -c CMD` in a fresh child process: same argument, same
// $$ semantics, same environment as in a session of its own, and a command
// that exits, execs or changes directory cannot disturb the shell.
//
// The framing: before the command the shell prints "MARK-start\n" on
// stderr (so a shell that died before reading the command is known to have
// run nothing, and the command goes to a session of its own on a
// re-dialed connection); after it, "MARK CODE\n" on stdout and on stderr,
// MARK being random per command. Each stream is cut at its mark, so stdout
// and stderr stay apart and the exit code comes back without a channel
// request. The command's stdin is /dev/null,
// or a here-document holding Command.Stdin (base64-decoded on the host
// when it is not plain text); stdin larger than shellStdinMax, or a shell
// that cannot start, falls back to a session of the command's own.
//
// A new shell's first command (without sudo or stdin) is part of the
// session's exec request: the shell runs it as it starts, and its output
// comes back with the exec's reply, so starting a shell costs no round
// trip of its own. sshd gives a session no window for stdin before its
// command runs, so this is the only way to send it sooner.
//
// Cancellation kills the shell's whole process group (the command's too)
// through a second session, exactly as for a session-per-command run, and
// the shell is dropped. A shell whose connection died, or that died
// itself, is never reused.

// shellStdinMax is the most stdin sent through a shell. Shells that read
// their script from a pipe byte by byte (bash does, to leave the rest of
// stdin to the commands it runs) parse a here-document at a few MB/s;
// bigger inputs go through a session of their own.
const shellStdinMax = 64 << 10

// shellInlineMax is the longest command script sent in a new shell's exec
// request (see runInShell): well below Linux's 128 KiB for one argument of
// the host's sh -c, even with every character quoted.
const shellInlineMax = 16 << 10

// shellMaxIdle bounds the idle shells kept per host: enough for the usual
// chain of one step after another plus some concurrency, few enough to
// leave sessions free (an idle shell holds one of Options.MaxSessions; one
// is closed whenever a session is wanted and none is free).
const shellMaxIdle = 4

// errNoShell says a command cannot go through a reused shell; Run then
// opens a session of its own.
var errNoShell = errors.New("no reusable shell")

// errShellUnusable marks a shell that started on a working connection but
// cannot serve (see startShell): its sudo mode uses sessions from then on.
var errShellUnusable = errors.New("reused shell unusable")

// shell is one long-lived /bin/sh on the host.
type shell struct {
	c        *conn
	s        *ssh.Session
	stdin    io.WriteCloser
	release  func()
	sudo     bool
	password string
	filter   *stderrFilter // says the process group once the shell has started
	stdout   *frameWriter
	stderr   *frameWriter
	rounds   int // its relays' rounds: shellRelayRounds when it starts
	used     int // commands sent to it

	exited  chan struct{} // closed when the session ended
	waitErr error         // its Wait error, read after exited
	once    sync.Once
}

// shellPool holds a host's idle shells.
type shellPool struct {
	mu   sync.Mutex
	idle []*shell
	// waiting counts session() calls blocked for a slot: idle shells
	// hold slots, so they are closed rather than kept while it is > 0.
	waiting atomic.Int32
	// broken[sudo] is set when a shell failed to start for a reason other
	// than cancellation: that mode uses sessions from then on.
	broken [2]bool
}

func (p *shellPool) disabled(sudo bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.broken[b2i(sudo)]
}

func (p *shellPool) disable(sudo bool) {
	p.mu.Lock()
	p.broken[b2i(sudo)] = true
	p.mu.Unlock()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// take returns an idle shell for this mode on the live connection, or nil.
// Shells found dead on the way are closed.
func (p *shellPool) take(live *conn, sudo bool, password string) *shell {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		sh := p.idle[i]
		if !sh.usable(live) {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			go sh.close()
			continue
		}
		if sh.sudo == sudo && sh.password == password {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return sh
		}
	}
	return nil
}

// put returns a shell after a command that completed normally. When a
// session is being waited for, the shell is closed instead, freeing its
// slot (see SSH.session).
func (p *shellPool) put(sh *shell) {
	p.mu.Lock()
	if len(p.idle) < shellMaxIdle && p.waiting.Load() == 0 && sh.used < sh.rounds {
		p.idle = append(p.idle, sh)
		sh = nil
	}
	p.mu.Unlock()
	if sh != nil {
		sh.close()
	}
}

// closeOne closes the least recently used idle shell, freeing its session
// slot. It reports whether there was one.
func (p *shellPool) closeOne() bool {
	p.mu.Lock()
	if len(p.idle) == 0 {
		p.mu.Unlock()
		return false
	}
	sh := p.idle[0]
	p.idle = p.idle[1:]
	p.mu.Unlock()
	sh.close()
	return true
}

func (p *shellPool) closeAll() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, sh := range idle {
		sh.close()
	}
}

func (sh *shell) usable(live *conn) bool {
	select {
	case <-sh.exited:
		return false
	default:
	}
	return sh.c == live && !live.isDead()
}

// close ends the shell (EOF on its stdin makes it exit) and frees its
// session slot.
func (sh *shell) close() {
	sh.once.Do(func() {
		sh.stdin.Close()
		sh.s.Close()
		sh.release()
	})
}

// currentConn is the live connection, or nil.
func (t *SSH) currentConn() *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conn
}

// runInShell runs c in a reused shell. It returns errNoShell, having run
// nothing, when c must go through a session of its own.
func (t *SSH) runInShell(ctx context.Context, c *Command, useSudo bool, password string) error {
	if t.d.opts.SessionPerCommand || t.shells.disabled(useSudo) {
		return errNoShell
	}
	env, err := ExportPrefix(c.Env)
	if err != nil {
		return fmt.Errorf("%s: %w", t.label(), err)
	}
	var input []byte
	if c.Stdin != nil {
		input, err = io.ReadAll(io.LimitReader(c.Stdin, shellStdinMax+1))
		if err != nil {
			return fmt.Errorf("%s: read stdin: %w", t.label(), err)
		}
		if len(input) > shellStdinMax {
			// Too big: what was read goes first on the session's stdin.
			c.Stdin = io.MultiReader(bytes.NewReader(input), c.Stdin)
			return errNoShell
		}
		c.Stdin = bytes.NewReader(input)
	}

	mark := "plan-end-" + randomToken()
	script := shellCommand(env+c.Cmd, input, c.Stdin != nil, mark)
	var tail TailBuffer
	stdout, stderr := orDiscard(c.Stdout), io.MultiWriter(orDiscard(c.Stderr), &tail)

	sh := t.shells.take(t.currentConn(), useSudo, password)
	inline := false
	if sh == nil {
		// A new shell runs the command as it starts: the command goes
		// in the session's exec request, in the same flight as the
		// shell's start, so no round trip waits for the start mark
		// (sshd opens a session's window for stdin only once its
		// command runs, so stdin could not carry it any sooner). Not
		// under sudo (sudo would log the command line, and a password
		// must go before anything else) and not with stdin (a command
		// line is visible in the host's process list; stdin is not).
		first := ""
		if !useSudo && len(input) == 0 && len(script) <= shellInlineMax {
			first = script
		}
		if sh, err = t.startShell(ctx, useSudo, password, first, func(sh *shell) {
			sh.stdout.begin(stdout, mark, false)
			sh.stderr.begin(stderr, mark, true)
		}); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", t.label(), ContextError(ctx))
			}
			// Let the session path run it and tell what is wrong. A
			// shell that cannot work here (a rejected sudo password, a
			// shell that ended or never spoke) is not tried again; a
			// connection that failed is the session path's to re-dial.
			// (A shell that failed to start has run nothing: the start
			// failed before the command was sent, or before its start
			// mark, which comes first in the exec request's script.)
			if errors.Is(err, errShellUnusable) {
				t.shells.disable(useSudo)
			}
			return errNoShell
		}
		inline = first != ""
	}

	sh.used++
	wrote := make(chan error, 1)
	// Until an inline command's shell has said it started, the start
	// timeout applies (as it does to startShell otherwise).
	var started <-chan struct{}
	var startTimeout <-chan time.Time
	if inline {
		wrote <- nil
		started = sh.filter.started
		timer := time.NewTimer(t.d.opts.OpTimeout)
		defer timer.Stop()
		startTimeout = timer.C
	} else {
		sh.stdout.begin(stdout, mark, false)
		sh.stderr.begin(stderr, mark, true)
		go func() {
			_, err := io.WriteString(sh.stdin, script)
			wrote <- err
		}()
	}

	var code string
	for pending := 2; pending > 0; {
		select {
		case code = <-sh.stdout.frame:
			pending--
		case <-sh.stderr.frame:
			pending--
		case <-started:
			started, startTimeout = nil, nil
		case <-startTimeout:
			// The shell may yet run the command: it is killed (its
			// process group is not known yet: the session is), not
			// run again elsewhere.
			t.abort(sh.s, 0, sh.sudo, sh.password, sh.exited)
			sh.close()
			t.shells.disable(useSudo)
			return fmt.Errorf("%s: %w: shell did not start within %v", t.label(), ErrTimeout, t.d.opts.OpTimeout)
		case <-sh.exited:
			sh.close()
			if inline && !sh.filter.hasStarted() {
				// It ended before its start mark, which comes
				// before the command: as for a shell that could not
				// start, the mode uses sessions from now on.
				t.shells.disable(useSudo)
				return errNoShell
			}
			if !sh.stderr.hasBegun() {
				// The shell ended (or its connection died) before it
				// read the command: nothing ran, so a session of its
				// own (on a re-dialed connection if need be) runs it.
				// Status 97: it could not make or find its FIFOs and
				// relays (shellStart, shellCommand), and no shell of
				// this mode will: sessions from now on.
				var ee *ssh.ExitError
				if errors.As(sh.waitErr, &ee) && ee.ExitStatus() == 97 {
					t.shells.disable(useSudo)
				}
				return errNoShell
			}
			// The shell died under the command (`kill 0`, OOM, the
			// connection): report it as a session would have.
			sh.stdout.flush()
			sh.stderr.flush()
			return t.sessionEnded(sh.waitErr, &tail, password)
		case <-ctx.Done():
			if started != nil {
				// stdout may run ahead of the start mark: give it a moment.
				select {
				case <-started:
				case <-sh.exited:
				case <-time.After(2 * time.Second):
				}
			}
			t.abort(sh.s, sh.filter.pgid(), sh.sudo, sh.password, sh.exited)
			sh.close()
			return fmt.Errorf("%s: %w", t.label(), ContextError(ctx))
		}
	}
	if err := <-wrote; err != nil {
		// Both marks came, so the command ran; the shell is unusable.
		sh.close()
	} else {
		t.shells.put(sh)
	}
	if code == "0" {
		return nil
	}
	n := 0
	if _, err := fmt.Sscanf(code, "%d", &n); err != nil {
		return fmt.Errorf("%s: unreadable exit status %q from the shell: %w", t.label(), code, ErrConnLost)
	}
	return NewExitError(n, "", tail.Tail(t.secrets(password)...))
}

// sessionEnded turns the end of a shell's session during a command into
// the error a session of the command's own would have given.
func (t *SSH) sessionEnded(werr error, tail *TailBuffer, password string) error {
	var ee *ssh.ExitError
	if errors.As(werr, &ee) {
		return exitError(ee, tail.Tail(t.secrets(password)...))
	}
	if werr == nil {
		werr = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: %w: shell ended: %w", t.label(), ErrConnLost, werr)
}

// shellRelayRounds is how many commands a shell's relays serve (see
// shellStart): a power of two, as the start script doubles their argument
// list. A shell is retired after that many (shellPool.put): one more
// would wait for ever for a relay. A variable for tests.
var shellRelayRounds = 1 << 12

// shellStart is the script (run by /bin/sh -c) that starts a reused
// shell: in a private directory it makes four FIFOs, o and m for stdout, e
// and n for stderr, and starts the shell's two relays: cat (run under the
// name "relay", so that a command's `pkill cat` leaves them be) with the
// arguments `o m o m …` for stdout, `e n e n …` for stderr. Each relay
// opens its FIFOs in turn and copies them to the shell's stdout or
// stderr, moving on at end-of-file, that is when every writer of the FIFO
// has closed it. Then the script runs first (a command's script, or
// nothing) and the shell proper, sh -s (sh is the shell to run: "/bin/sh"
// on a host), which reads the commands from stdin and gets the directory
// as $1. Not exec'd: the starting shell stays, to end the relays and
// remove the directory when sh -s ends (EOF on stdin) or is terminated
// with it (the process group's TERM).
func shellStart(first, sh string, rounds int) string {
	return `plan_d=$(mktemp -d) && mkfifo "$plan_d/o" "$plan_d/m" "$plan_d/e" "$plan_d/n" && ` +
		`ln -s "$(command -v cat)" "$plan_d/relay" && [ -x "$plan_d/relay" ] || exit 97; ` +
		`trap 'kill $plan_po $plan_pe 2>/dev/null; rm -rf "$plan_d"' EXIT; trap 'exit 143' TERM; ` +
		`plan_o='o m' plan_e='e n' plan_i=1; while [ $plan_i -lt ` + strconv.Itoa(rounds) +
		` ]; do plan_o="$plan_o $plan_o" plan_e="$plan_e $plan_e" plan_i=$((plan_i * 2)); done; ` +
		`(cd "$plan_d" && exec ./relay $plan_o) </dev/null 2>/dev/null & plan_po=$!; ` +
		`(cd "$plan_d" && exec ./relay $plan_e >&2 2>/dev/null) </dev/null & plan_pe=$!; ` +
		`unset plan_o plan_e plan_i` + "\n" +
		first + sh + ` -s "$plan_d"`
}

// shellCommand renders what a shell reads for one command.
//
// The command's stdout and stderr are the FIFOs o and e of its shell (see
// shellStart), copied to the shell's stdout and stderr by its relays; its
// end marks go through the FIFOs m and n, which a relay opens only once it
// has reached end-of-file on o or e. So, as with a session of its own, the
// command is over when it has exited and nothing it started still holds
// its stdout or stderr: output from a process it left in the background
// comes before its end mark and can never land in the next command's
// stream. The shell's opens of the FIFOs wait for the relays, which keeps
// each relay's files in step with the commands: o (e) is opened for
// writing only once the relay has opened it again after the previous
// command's mark; the start mark goes through e too, after that mark. The
// command stays the shell's child, and no process is started for a
// command but its /bin/sh -c. The FIFOs' directory is $plan_d in the
// starting shell (a first command run there) and $1 in sh -s; a shell
// without its FIFOs runs nothing (an open would create plain files).
func shellCommand(cmd string, input []byte, hasStdin bool, mark string) string {
	var b strings.Builder
	b.WriteString(`[ -n "$plan_d" ] || plan_d=$1; [ -p "$plan_d/o" ] && [ -p "$plan_d/n" ] || exit 97; `)
	b.WriteString(`exec 3>"$plan_d/o" 4>"$plan_d/e"; `)
	fmt.Fprintf(&b, "printf '%%s\\n' %s-start >&4; ", mark)
	run := "/bin/sh -c " + ShellQuote(cmd) + " >&3 2>&4 3>&- 4>&-"
	var doc string
	switch {
	case !hasStdin || len(input) == 0:
		run += " </dev/null"
	default:
		delim := "PLAN_STDIN_" + randomToken()
		if plainText(input) {
			run += " <<'" + delim + "'"
			doc = string(input) + delim + "\n"
		} else {
			run = "base64 -d <<'" + delim + "' 3>&- 4>&- | " + run
			doc = wrapBase64(input) + delim + "\n"
		}
	}
	fmt.Fprintf(&b, "%s; plan_rc=$?; exec 3>&- 4>&-; ", run)
	fmt.Fprintf(&b, "printf '%%s %%s\\n' %s \"$plan_rc\" >\"$plan_d/m\"; printf '%%s %%s\\n' %s \"$plan_rc\" >\"$plan_d/n\"\n", mark, mark)
	b.WriteString(doc)
	return b.String()
}

// plainText reports whether b survives a here-document byte for byte:
// no NUL, and a final newline (the document's last line needs one).
func plainText(b []byte) bool {
	return len(b) > 0 && b[len(b)-1] == '\n' && bytes.IndexByte(b, 0) < 0
}

func wrapBase64(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var s strings.Builder
	for len(enc) > 76 {
		s.WriteString(enc[:76])
		s.WriteByte('\n')
		enc = enc[76:]
	}
	s.WriteString(enc)
	s.WriteByte('\n')
	return s.String()
}

// startShell opens a session running a shell that reads commands from
// stdin, under sudo when asked. begin starts the first command's frames
// before any output can come. With first (a script of shellCommand), the
// shell runs it as it starts and startShell returns without waiting: the
// caller waits for the command's frames (and the shell's start, bounded by
// the op timeout). Without, it waits until the shell has said its process
// group, and the first command goes on stdin as every later one.
func (t *SSH) startShell(ctx context.Context, useSudo bool, password, first string, begin func(*shell)) (*shell, error) {
	sh := &shell{sudo: useSudo, password: password, stdout: newFrameWriter(), stderr: newFrameWriter(),
		rounds: shellRelayRounds, exited: make(chan struct{})}
	begin(sh)
	m, err := t.startMarked(ctx, shellStart(first, "/bin/sh", sh.rounds), useSudo, password, sh.stdout, sh.stderr)
	if err != nil {
		return nil, err
	}
	sh.c, sh.s, sh.stdin, sh.release, sh.filter = m.c, m.s, m.stdin, m.release, m.filter
	go func() {
		sh.waitErr = sh.s.Wait()
		close(sh.exited)
	}()
	if first != "" {
		return sh, nil
	}
	filter := m.filter
	// The password goes only after sudo's prompt; the shell's stdin is
	// not used for commands before it has started, so the two never mix.
	go sendPassword(sh.stdin, password, filter, sh.exited)
	timer := time.NewTimer(t.d.opts.OpTimeout)
	defer timer.Stop()
	select {
	case <-filter.started:
		return sh, nil
	case <-filter.badPassword:
		err = fmt.Errorf("%w: %w", errShellUnusable, ErrSudoPassword)
	case <-sh.exited:
		err = fmt.Errorf("%w: shell ended before it started: %v", errShellUnusable, sh.waitErr)
	case <-timer.C:
		err = fmt.Errorf("%w: %w: shell did not start within %v", errShellUnusable, ErrTimeout, t.d.opts.OpTimeout)
	case <-ctx.Done():
		err = ContextError(ctx)
	}
	sh.close()
	return nil, fmt.Errorf("%s: %w", t.label(), err)
}

// frameWriter passes a shell's output stream to the running command's
// writer up to the command's end mark, and hands over what follows the
// mark on its line. Output between commands (from something a command
// left running in the background) is dropped.
type frameWriter struct {
	mu    sync.Mutex
	dst   io.Writer
	mark  []byte // "MARK " while a command runs, else nil
	start []byte // "MARK-start\n" until seen, when the stream has one
	begun bool   // the start mark was seen: the shell read the command
	held  []byte // output that may be the start of a mark
	frame chan string
}

func newFrameWriter() *frameWriter { return &frameWriter{frame: make(chan string, 1)} }

// begin starts a command's frame. With withStart the stream first carries
// "MARK-start\n", which says the shell has read the command.
func (f *frameWriter) begin(dst io.Writer, mark string, withStart bool) {
	f.mu.Lock()
	f.dst, f.mark, f.held, f.start, f.begun = dst, []byte(mark+" "), f.held[:0], nil, false
	if withStart {
		f.start = []byte(mark + "-start\n")
	}
	f.mu.Unlock()
}

// hasBegun reports whether the start mark was seen.
func (f *frameWriter) hasBegun() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.begun
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mark == nil {
		return len(p), nil
	}
	f.held = append(f.held, p...)
	if f.start != nil {
		// Before the start mark only stray output can come: drop it.
		i := bytes.Index(f.held, f.start)
		if i < 0 {
			return len(p), nil
		}
		f.held = append(f.held[:0], f.held[i+len(f.start):]...)
		f.start, f.begun = nil, true
	}
	if i := bytes.Index(f.held, f.mark); i >= 0 {
		f.dst.Write(f.held[:i])
		f.held = append(f.held[:0], f.held[i:]...)
		if j := bytes.IndexByte(f.held, '\n'); j >= 0 {
			f.frame <- string(f.held[len(f.mark):j])
			f.mark, f.dst, f.held = nil, nil, f.held[:0]
		}
		return len(p), nil
	}
	keep := partialSuffix(f.held, f.mark)
	f.dst.Write(f.held[:len(f.held)-keep])
	f.held = append(f.held[:0], f.held[len(f.held)-keep:]...)
	return len(p), nil
}

// flush writes what is held back when the stream ends without its mark.
func (f *frameWriter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mark != nil && len(f.held) > 0 {
		f.dst.Write(f.held)
	}
	f.mark, f.dst, f.held = nil, nil, f.held[:0]
}

// partialSuffix is the length of the longest end of b that begins mark.
func partialSuffix(b, mark []byte) int {
	for k := min(len(b), len(mark)-1); k > 0; k-- {
		if bytes.HasSuffix(b, mark[:k]) {
			return k
		}
	}
	return 0
}
