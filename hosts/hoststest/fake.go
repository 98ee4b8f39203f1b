package hoststest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/internal/atomicfile"
)

// Fake is an in-memory hosts.Transport for unit tests: a map of files, a
// command handler the test supplies, a record of every call, and knobs to
// simulate delays, exit codes and connection loss. It is safe for
// concurrent use.
//
// A nil Handler makes every command succeed silently.
type Fake struct {
	// Name labels errors ("fake cp1: ...").
	Name string
	// User is the connecting user; pushed files without an Owner belong to
	// it (or to root with Sudo). Default "root".
	User string
	// Handler runs commands. It should honour ctx; when it does not, Run
	// still returns once ctx is done (later writes are dropped).
	Handler FakeHandler
	// Delay is waited (honouring ctx) before every Run, Push and Fetch.
	Delay time.Duration

	mu     sync.Mutex
	files  map[string]FakeFile
	calls  []FakeCall
	lost   bool
	closed bool
	fail   []error
}

// FakeHandler runs one command on a Fake. Return nil for exit status 0,
// FakeExit for a non-zero status, or any error (e.g. hosts.ErrConnLost) to fail
// the call as the transport would.
type FakeHandler func(ctx context.Context, r *FakeRun) error

// FakeRun is one command as a FakeHandler sees it. Stdin, Stdout and Stderr
// are never nil.
type FakeRun struct {
	Cmd    string
	Env    map[string]string
	Sudo   bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Host is the Fake itself, so a handler can read or change its files.
	Host *Fake
}

// FakeFile is a file on a Fake host.
type FakeFile struct {
	Data  []byte
	Mode  fs.FileMode
	Owner string
	Group string
}

// FakeCall records one call on a Fake, in call order.
type FakeCall struct {
	Op   string // "run", "push", "fetch", "close"
	Cmd  string // run
	Env  map[string]string
	Sudo bool
	Path string // push, fetch
	Err  error  // what the call returned
}

// FakeExit is the error a FakeHandler returns for a non-zero exit status.
// The Fake fills StderrTail from what the handler wrote to Stderr when
// stderr is empty.
func FakeExit(code int, stderr string) error {
	return hosts.NewExitError(code, "", stderr)
}

// NewFake returns an empty Fake host named name.
func NewFake(name string) *Fake {
	return &Fake{Name: name}
}

// WriteFile puts a file on the fake host (test setup).
func (f *Fake) WriteFile(path string, data []byte, mode fs.FileMode, owner, group string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensure()
	f.files[path] = FakeFile{Data: bytes.Clone(data), Mode: mode, Owner: owner, Group: group}
}

// File returns the file at path and whether it exists.
func (f *Fake) File(path string) (FakeFile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ff, ok := f.files[path]
	ff.Data = bytes.Clone(ff.Data)
	return ff, ok
}

// RemoveFile deletes a file from the fake host.
func (f *Fake) RemoveFile(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, path)
}

// Paths lists the fake host's files, sorted.
func (f *Fake) Paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.files))
	for p := range f.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Calls returns a copy of the calls made so far.
func (f *Fake) Calls() []FakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeCall(nil), f.calls...)
}

// LoseConnection makes every call fail with hosts.ErrConnLost until Reconnect,
// as a host whose sshd died would.
func (f *Fake) LoseConnection() { f.setLost(true) }

// Reconnect ends a LoseConnection outage (the transport re-dialed).
func (f *Fake) Reconnect() { f.setLost(false) }

func (f *Fake) setLost(v bool) {
	f.mu.Lock()
	f.lost = v
	f.mu.Unlock()
}

// FailNext makes the next call (of any kind) return err without running.
// Calls queue: FailNext(a); FailNext(b) fails the next two calls.
func (f *Fake) FailNext(err error) {
	f.mu.Lock()
	f.fail = append(f.fail, err)
	f.mu.Unlock()
}

func (f *Fake) ensure() {
	if f.files == nil {
		f.files = map[string]FakeFile{}
	}
}

func (f *Fake) record(c FakeCall) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *Fake) label() string {
	if f.Name == "" {
		return "fake"
	}
	return "fake " + f.Name
}

// begin applies the simulated outage, queued failures and delay shared by
// every call.
func (f *Fake) begin(ctx context.Context) error {
	f.mu.Lock()
	closed, lost := f.closed, f.lost
	var queued error
	if !closed && !lost && len(f.fail) > 0 {
		queued, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("%s: transport closed: %w", f.label(), hosts.ErrConnLost)
	case lost:
		return fmt.Errorf("%s: %w", f.label(), hosts.ErrConnLost)
	case queued != nil:
		return queued
	}
	if err := ctx.Err(); err != nil {
		return hosts.ContextError(ctx)
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return hosts.ContextError(ctx)
		}
	}
	return nil
}

// Run implements hosts.Transport.
func (f *Fake) Run(ctx context.Context, c *hosts.Command) error {
	err := f.run(ctx, c)
	f.record(FakeCall{Op: "run", Cmd: c.Cmd, Env: c.Env, Sudo: c.Sudo, Err: err})
	return err
}

func (f *Fake) run(ctx context.Context, c *hosts.Command) error {
	if err := f.begin(ctx); err != nil {
		return err
	}
	if f.Handler == nil {
		return nil
	}
	var tail hosts.TailBuffer
	stdout := &gateWriter{w: c.Stdout}
	var errw io.Writer = &tail
	if c.Stderr != nil {
		errw = io.MultiWriter(c.Stderr, &tail)
	}
	stderr := &gateWriter{w: errw}
	stdin := c.Stdin
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	r := &FakeRun{Cmd: c.Cmd, Env: c.Env, Sudo: c.Sudo, Stdin: stdin, Stdout: stdout, Stderr: stderr, Host: f}
	done := make(chan error, 1)
	go func() { done <- f.Handler(ctx, r) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = hosts.ContextError(ctx)
	}
	stdout.close()
	stderr.close()
	var ee *hosts.ExitError
	if errors.As(err, &ee) && ee.StderrTail == "" {
		ee.StderrTail = tail.Tail()
	}
	if err != nil && ee == nil && !errors.Is(err, hosts.ErrConnLost) && ctx.Err() == nil {
		return fmt.Errorf("%s: run: %w", f.label(), err)
	}
	return err
}

// Push implements hosts.Transport.
func (f *Fake) Push(ctx context.Context, u *hosts.Upload) (hosts.PushResult, error) {
	res, err := f.push(ctx, u)
	f.record(FakeCall{Op: "push", Path: u.Path, Sudo: u.Sudo, Err: err})
	return res, err
}

func (f *Fake) push(ctx context.Context, u *hosts.Upload) (hosts.PushResult, error) {
	data := u.Content
	if u.LocalPath != "" {
		var err error
		if data, err = os.ReadFile(u.LocalPath); err != nil {
			return hosts.PushResult{}, fmt.Errorf("push %s: %w", u.Path, err)
		}
	}
	sum := sha256.Sum256(data)
	res := hosts.PushResult{SHA256: hex.EncodeToString(sum[:])}
	if err := f.begin(ctx); err != nil {
		return res, fmt.Errorf("push %s: %w", u.Path, err)
	}
	want := FakeFile{Data: bytes.Clone(data), Mode: u.Mode, Owner: u.Owner, Group: u.Group}
	if want.Mode == 0 {
		want.Mode = 0o644
	}
	user := f.User
	if user == "" || u.Sudo {
		user = "root"
	}
	if want.Owner == "" {
		want.Owner = user
	}
	if want.Group == "" {
		want.Group = want.Owner
	}
	if !u.Sudo && user != "root" && want.Owner != user {
		return res, fmt.Errorf("push %s: %s cannot give a file to %s without sudo", u.Path, user, want.Owner)
	}
	f.mu.Lock()
	have, ok := f.files[u.Path]
	f.mu.Unlock()
	res.Changed = !ok || !bytes.Equal(have.Data, want.Data) || have.Mode != want.Mode ||
		have.Owner != want.Owner || have.Group != want.Group
	if !res.Changed || u.DryRun {
		return res, nil
	}
	// Progress runs before the commit point, so a caller that cancels
	// from it sees an interrupted push, as with a real host.
	if u.Progress != nil {
		u.Progress(int64(len(data)), int64(len(data)))
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("push %s: %w", u.Path, hosts.ContextError(ctx))
	}
	f.mu.Lock()
	f.ensure()
	f.files[u.Path] = want
	f.mu.Unlock()
	return res, nil
}

// Fetch implements hosts.Transport.
func (f *Fake) Fetch(ctx context.Context, d *hosts.Download) ([]byte, error) {
	b, err := f.fetch(ctx, d)
	f.record(FakeCall{Op: "fetch", Path: d.Path, Sudo: d.Sudo, Err: err})
	return b, err
}

func (f *Fake) fetch(ctx context.Context, d *hosts.Download) ([]byte, error) {
	if err := f.begin(ctx); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d.Path, err)
	}
	ff, ok := f.File(d.Path)
	if !ok {
		return nil, fmt.Errorf("fetch %s: %w", d.Path, fs.ErrNotExist)
	}
	if d.LocalPath == "" {
		if d.MaxBytes > 0 && int64(len(ff.Data)) > d.MaxBytes {
			return nil, fmt.Errorf("fetch %s: %w: over %d bytes", d.Path, hosts.ErrTooLarge, d.MaxBytes)
		}
		return ff.Data, nil
	}
	if err := atomicfile.WriteFile(d.LocalPath, ff.Data, 0o600); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d.Path, err)
	}
	return nil, nil
}

// Close implements hosts.Transport. Later calls fail with hosts.ErrConnLost.
func (f *Fake) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.record(FakeCall{Op: "close"})
	return nil
}

// gateWriter forwards writes until closed, then drops them, so a handler
// that outlives its Run cannot write into the caller's buffers.
type gateWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.w == nil {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gateWriter) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

var _ hosts.Transport = (*Fake)(nil)
