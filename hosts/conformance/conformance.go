package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
)

// Target is one connected backend for one test.
type Target struct {
	Transport hosts.Transport
	// Dir is an empty directory on the host that the transport's user can
	// write, for the files the test pushes.
	Dir string
	// Sudo: Command.Sudo works on this host.
	Sudo bool
	// SudoIsRoot: commands run with Sudo really are root (id -u is 0) and
	// can chown; false for stand-ins.
	SudoIsRoot bool
	// FilesVisibleToRun: files pushed are visible to commands (false for
	// the Fake, whose files live in memory).
	FilesVisibleToRun bool
}

// Factory makes a fresh Target for one subtest; it registers its own
// cleanup with t.Cleanup.
type Factory func(t *testing.T) *Target

// Run runs the suite.
func Run(t *testing.T, f Factory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, tg *Target)
	}{
		{"Stdout", testStdout},
		{"ExitStatusAndStderrTail", testExit},
		{"KilledBySignal", testSignal},
		{"StdinLarge", testStdin},
		{"EnvQuoted", testEnv},
		{"ScriptOnStdin", testScript},
		{"SudoStdinReachesCommand", testSudoStdin},
		{"ManyConcurrentCommands", testConcurrent},
		{"CancelKillsRemoteProcess", testCancel},
		{"CancelKillsSudoProcess", testCancelSudo},
		{"DeadlineIsErrTimeout", testDeadline},
		{"PushChangedThenUnchanged", testPush},
		{"PushDryRun", testPushDryRun},
		{"PushLocalFileProgress", testPushLocal},
		{"PushSudoOwnerMode", testPushSudo},
		{"InterruptedPushKeepsOldFile", testInterruptedPush},
		{"PushUnchangedWritesNothing", testPushUnchangedWritesNothing},
		{"PushSudoOwnerChange", testPushSudoOwnerChange},
		{"PushLargeWithGroupKeepsSetgid", testPushLargeKeepsSetgid},
		{"FetchMissing", testFetchMissing},
		{"FetchToLocalPath", testFetchLocal},
		{"ClosedTransportFails", testClosed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, f(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func run(t *testing.T, tg *Target, c *hosts.Command) (string, string, error) {
	var out, errb bytes.Buffer
	if c.Stdout == nil {
		c.Stdout = &out
	}
	if c.Stderr == nil {
		c.Stderr = &errb
	}
	err := tg.Transport.Run(ctx(t), c)
	return out.String(), errb.String(), err
}

func testStdout(t *testing.T, tg *Target) {
	out, stderr, err := run(t, tg, &hosts.Command{Cmd: "echo hello; echo world"})
	if err != nil || out != "hello\nworld\n" || stderr != "" {
		t.Fatalf("got %q / %q / %v", out, stderr, err)
	}
}

func testExit(t *testing.T, tg *Target) {
	out, stderr, err := run(t, tg, &hosts.Command{Cmd: "echo out; echo first >&2; echo oops >&2; exit 7"})
	var ee *hosts.ExitError
	if !errors.As(err, &ee) || ee.Code != 7 {
		t.Fatalf("want exit 7, got %v", err)
	}
	if !strings.HasSuffix(ee.StderrTail, "oops") || stderr != "first\noops\n" || out != "out\n" {
		t.Fatalf("tail %q stderr %q out %q", ee.StderrTail, stderr, out)
	}
}

// A command killed by a signal reports 128+N and the signal's name, on
// every path (a session, a reused shell, the Fake).
func testSignal(t *testing.T, tg *Target) {
	_, _, err := run(t, tg, &hosts.Command{Cmd: "echo dying >&2; kill -TERM $$"})
	var ee *hosts.ExitError
	if !errors.As(err, &ee) || ee.Code != 143 || ee.Signal != "TERM" || err.Error() != "exit status 143 (signal TERM)" {
		t.Fatalf("want exit status 143 (signal TERM), got %#v", err)
	}
	// A plain status stays a plain status.
	_, _, err = run(t, tg, &hosts.Command{Cmd: "exit 3"})
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Signal != "" {
		t.Fatalf("want exit status 3, got %#v", err)
	}
}

func testStdin(t *testing.T, tg *Target) {
	in := make([]byte, 1<<20)
	rand.Read(in)
	var out bytes.Buffer
	_, _, err := run(t, tg, &hosts.Command{Cmd: "cat", Stdin: bytes.NewReader(in), Stdout: &out})
	if err != nil || !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("cat returned %d bytes of %d, err %v", out.Len(), len(in), err)
	}
}

func testEnv(t *testing.T, tg *Target) {
	val := `it's "$HOME" $(id) ; \n`
	out, _, err := run(t, tg, &hosts.Command{Cmd: `printf '%s|%s' "$PLAN_A" "$PLAN_B"`, Env: map[string]string{"PLAN_A": val, "PLAN_B": ""}})
	if err != nil || out != val+"|" {
		t.Fatalf("got %q, %v", out, err)
	}
	if _, _, err := run(t, tg, &hosts.Command{Cmd: "true", Env: map[string]string{"BAD NAME": "x"}}); err == nil {
		t.Fatal("an invalid variable name must be refused")
	}
}

func testScript(t *testing.T, tg *Target) {
	script := "set -e\nx='single '\"'\"' quote'\necho \"$x\"\nexit 3\n"
	out, _, err := run(t, tg, &hosts.Command{Cmd: "/bin/sh -s", Stdin: strings.NewReader(script)})
	var ee *hosts.ExitError
	if out != "single ' quote\n" || !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("got %q, %v", out, err)
	}
}

func testSudoStdin(t *testing.T, tg *Target) {
	if !tg.Sudo {
		t.Skip("backend has no sudo")
	}
	out, stderr, err := run(t, tg, &hosts.Command{Cmd: "cat; echo; id -u", Sudo: true, Stdin: strings.NewReader("payload line\nsecond")})
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "payload line" || lines[1] != "second" {
		t.Fatalf("stdin did not reach the command intact: %q", out)
	}
	if tg.SudoIsRoot && lines[2] != "0" {
		t.Fatalf("sudo did not run as root: id -u = %q", lines[2])
	}
	if strings.Contains(stderr, "sudo") || strings.Contains(stderr, "password") {
		t.Fatalf("sudo chatter leaked to stderr: %q", stderr)
	}
}

func testConcurrent(t *testing.T, tg *Target) {
	var wg sync.WaitGroup
	errs := make([]error, 24)
	outs := make([]string, 24)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			errs[i] = tg.Transport.Run(ctx(t), &hosts.Command{Cmd: fmt.Sprintf("sleep 0.2; echo %d", i), Stdout: &b})
			outs[i] = b.String()
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil || outs[i] != fmt.Sprintf("%d\n", i) {
			t.Errorf("command %d: %q %v", i, outs[i], errs[i])
		}
	}
}

// startedWriter signals when the command printed its first line.
type startedWriter struct {
	once sync.Once
	ch   chan struct{}
}

func (w *startedWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ch) })
	return len(p), nil
}

func cancelCase(t *testing.T, tg *Target, sudo bool) {
	// A unique duration lets pgrep find exactly this process.
	dur := fmt.Sprintf("%d.%03d", 1000+time.Now().UnixNano()%1000, time.Now().Nanosecond()%1000)
	c, cancel := context.WithCancel(ctx(t))
	w := &startedWriter{ch: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- tg.Transport.Run(c, &hosts.Command{Cmd: "sleep " + dur + " & echo started; wait", Sudo: sudo, Stdout: w})
	}()
	select {
	case <-w.ch:
	case err := <-done:
		t.Fatalf("command ended before cancel: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("command did not start within 30s")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
	probe := "pgrep -f 'slee[p] " + dur + "' || true" // [p]: not the probe itself
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, err := run(t, tg, &hosts.Command{Cmd: probe, Sudo: sudo})
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		if strings.TrimSpace(out) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep %s still running after cancel: pids %q", dur, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func testCancel(t *testing.T, tg *Target) { cancelCase(t, tg, false) }

func testCancelSudo(t *testing.T, tg *Target) {
	if !tg.Sudo {
		t.Skip("backend has no sudo")
	}
	cancelCase(t, tg, true)
}

func testDeadline(t *testing.T, tg *Target) {
	c, cancel := context.WithTimeout(ctx(t), 500*time.Millisecond)
	defer cancel()
	err := tg.Transport.Run(c, &hosts.Command{Cmd: "sleep 30"})
	if !errors.Is(err, hosts.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fetch(t *testing.T, tg *Target, p string) []byte {
	b, err := tg.Transport.Fetch(ctx(t), &hosts.Download{Path: p})
	if err != nil {
		t.Fatalf("fetch %s: %v", p, err)
	}
	return b
}

func testPush(t *testing.T, tg *Target) {
	p := tg.Dir + "/a.conf"
	push := func(content string, mode fs.FileMode) hosts.PushResult {
		r, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: p, Content: []byte(content), Mode: mode})
		if err != nil {
			t.Fatalf("push: %v", err)
		}
		if r.SHA256 != sum([]byte(content)) {
			t.Fatalf("SHA256 %s", r.SHA256)
		}
		return r
	}
	if !push("one\n", 0o640).Changed {
		t.Fatal("first push: Changed false")
	}
	if push("one\n", 0o640).Changed {
		t.Fatal("same content and mode: Changed true")
	}
	if !push("one\n", 0o2750).Changed {
		t.Fatal("mode change to setgid: Changed false")
	}
	if push("one\n", 0o2750).Changed {
		t.Fatal("same setgid mode: Changed true")
	}
	if !push("one\n", 0o600).Changed {
		t.Fatal("mode change: Changed false")
	}
	if !push("two\n", 0o600).Changed {
		t.Fatal("content change: Changed false")
	}
	if got := fetch(t, tg, p); string(got) != "two\n" {
		t.Fatalf("fetched %q", got)
	}
	if tg.FilesVisibleToRun {
		out, _, err := run(t, tg, &hosts.Command{Cmd: "stat -c %a " + p + "; ls -A " + tg.Dir})
		if err != nil || out != "600\na.conf\n" {
			t.Fatalf("remote view: %q %v (a temp file left behind?)", out, err)
		}
	}
	nested := tg.Dir + "/x/y/z.conf"
	if r, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: nested, Content: []byte("deep")}); err != nil || !r.Changed {
		t.Fatalf("push into missing directories: %+v %v", r, err)
	}
	if got := fetch(t, tg, nested); string(got) != "deep" {
		t.Fatalf("fetched %q", got)
	}
	empty := tg.Dir + "/empty"
	if r, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: empty, Content: []byte{}}); err != nil || !r.Changed {
		t.Fatalf("empty file: %+v %v", r, err)
	}
	if got := fetch(t, tg, empty); len(got) != 0 {
		t.Fatalf("empty file fetched as %q", got)
	}
}

func testPushDryRun(t *testing.T, tg *Target) {
	p := tg.Dir + "/dry"
	r, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: p, Content: []byte("x"), DryRun: true})
	if err != nil || !r.Changed {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	if _, err := tg.Transport.Fetch(ctx(t), &hosts.Download{Path: p}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dry run wrote the file (fetch: %v)", err)
	}
}

func testPushLocal(t *testing.T, tg *Target) {
	local := filepath.Join(t.TempDir(), "big")
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	if err := os.WriteFile(local, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var last, total int64
	calls := 0
	r, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: tg.Dir + "/big", LocalPath: local, Mode: 0o600,
		Progress: func(sent, tot int64) { last, total = sent, tot; calls++ }})
	if err != nil || !r.Changed || r.SHA256 != sum(data) {
		t.Fatalf("push: %+v %v", r, err)
	}
	if calls == 0 || last != int64(len(data)) || total != int64(len(data)) {
		t.Fatalf("progress: %d calls, last %d of %d", calls, last, total)
	}
	if got := fetch(t, tg, tg.Dir+"/big"); !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes differ", len(got))
	}
}

func testPushSudo(t *testing.T, tg *Target) {
	if !tg.Sudo || !tg.SudoIsRoot {
		t.Skip("backend has no real sudo")
	}
	p := tg.Dir + "/root-only"
	u := &hosts.Upload{Path: p, Content: []byte("secret\n"), Mode: 0o600, Owner: "root", Group: "root", Sudo: true}
	if r, err := tg.Transport.Push(ctx(t), u); err != nil || !r.Changed {
		t.Fatalf("push: %+v %v", r, err)
	}
	if r, err := tg.Transport.Push(ctx(t), u); err != nil || r.Changed {
		t.Fatalf("second push: %+v %v", r, err)
	}
	deep := tg.Dir + "/root-dir/sub/file"
	if _, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: deep, Content: []byte("x"), Sudo: true}); err != nil {
		t.Fatalf("sudo push into missing directories: %v", err)
	}
	out, _, err := run(t, tg, &hosts.Command{Cmd: "stat -c '%a %U %G' " + p, Sudo: true})
	if err != nil || out != "600 root root\n" {
		t.Fatalf("stat: %q %v", out, err)
	}
	b, err := tg.Transport.Fetch(ctx(t), &hosts.Download{Path: p, Sudo: true})
	if err != nil || string(b) != "secret\n" {
		t.Fatalf("sudo fetch: %q %v", b, err)
	}
}

// testPushUnchangedWritesNothing: a push of the same content, mode and
// owner must not touch the destination (same inode and mtime), and a
// content change of the same size must still be seen (the small-file
// path compares sha256, not only the size).
func testPushUnchangedWritesNothing(t *testing.T, tg *Target) {
	p := tg.Dir + "/same"
	u := &hosts.Upload{Path: p, Content: []byte("same content\n"), Mode: 0o4750}
	if r, err := tg.Transport.Push(ctx(t), u); err != nil || !r.Changed {
		t.Fatalf("first push: %+v %v", r, err)
	}
	stat := func() string {
		out, _, err := run(t, tg, &hosts.Command{Cmd: "stat -c '%i %Y %a' " + p + "; ls -A " + tg.Dir})
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		return out
	}
	var before string
	if tg.FilesVisibleToRun {
		before = stat()
		if !strings.HasSuffix(strings.SplitN(before, "\n", 2)[0], " 4750") {
			t.Fatalf("setuid mode not kept: %q", before)
		}
	}
	if r, err := tg.Transport.Push(ctx(t), u); err != nil || r.Changed {
		t.Fatalf("second push: %+v %v", r, err)
	}
	if tg.FilesVisibleToRun {
		if after := stat(); after != before {
			t.Fatalf("unchanged push touched the file: %q then %q", before, after)
		}
	}
	u2 := &hosts.Upload{Path: p, Content: []byte("SAME CONTENT\n"), Mode: 0o4750}
	if r, err := tg.Transport.Push(ctx(t), u2); err != nil || !r.Changed {
		t.Fatalf("same size, other content: %+v %v", r, err)
	}
	if got := fetch(t, tg, p); string(got) != "SAME CONTENT\n" {
		t.Fatalf("fetched %q", got)
	}
}

// testPushSudoOwnerChange: same content and mode but another owner is a
// change, and the push makes the owner the one asked for.
func testPushSudoOwnerChange(t *testing.T, tg *Target) {
	if !tg.Sudo || !tg.SudoIsRoot || !tg.FilesVisibleToRun {
		t.Skip("backend has no real sudo")
	}
	p := tg.Dir + "/owned"
	u := &hosts.Upload{Path: p, Content: []byte("x\n"), Mode: 0o640, Owner: "root", Group: "root", Sudo: true}
	if _, err := tg.Transport.Push(ctx(t), u); err != nil {
		t.Fatalf("push: %v", err)
	}
	if _, _, err := run(t, tg, &hosts.Command{Cmd: "chown 1:1 " + p, Sudo: true}); err != nil {
		t.Fatalf("chown: %v", err)
	}
	if r, err := tg.Transport.Push(ctx(t), u); err != nil || !r.Changed {
		t.Fatalf("owner differs: %+v %v", r, err)
	}
	out, _, err := run(t, tg, &hosts.Command{Cmd: "stat -c '%a %u %g' " + p, Sudo: true})
	if err != nil || out != "640 0 0\n" {
		t.Fatalf("stat: %q %v", out, err)
	}
	if r, err := tg.Transport.Push(ctx(t), u); err != nil || r.Changed {
		t.Fatalf("third push: %+v %v", r, err)
	}
}

// testPushLargeKeepsSetgid: a file above the one-session limit with a group
// and a setgid mode keeps the bit (chown clears setuid/setgid, so the
// transport must chown before it chmods).
func testPushLargeKeepsSetgid(t *testing.T, tg *Target) {
	if !tg.FilesVisibleToRun {
		t.Skip("backend's files are not visible to commands")
	}
	grp, _, err := run(t, tg, &hosts.Command{Cmd: "id -gn"})
	if err != nil {
		t.Fatalf("id -gn: %v", err)
	}
	p := tg.Dir + "/big-setgid"
	content := bytes.Repeat([]byte("0123456789abcdef"), (2<<20)/16) // 2 MiB: the sftp path
	u := &hosts.Upload{Path: p, Content: content, Mode: 0o2750, Group: strings.TrimSpace(grp)}
	if r, err := tg.Transport.Push(ctx(t), u); err != nil || !r.Changed {
		t.Fatalf("push: %+v %v", r, err)
	}
	out, _, err := run(t, tg, &hosts.Command{Cmd: "stat -c %a " + p})
	if err != nil || strings.TrimSpace(out) != "2750" {
		t.Fatalf("mode after push: %q %v", out, err)
	}
}

func testInterruptedPush(t *testing.T, tg *Target) {
	p := tg.Dir + "/victim"
	if _, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: p, Content: []byte("old\n")}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	rand.Read(data)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	_, err := tg.Transport.Push(c, &hosts.Upload{Path: p, Content: data, Progress: func(sent, total int64) {
		if sent >= total/2 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("push cancelled half-way returned no error")
	}
	if got := fetch(t, tg, p); string(got) != "old\n" {
		t.Fatalf("destination is no longer the old file (%d bytes)", len(got))
	}
	if tg.FilesVisibleToRun {
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, _, err := run(t, tg, &hosts.Command{Cmd: "ls -A " + tg.Dir})
			if err == nil && out == "victim\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("temp files left beside the destination: %q %v", out, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func testFetchMissing(t *testing.T, tg *Target) {
	_, err := tg.Transport.Fetch(ctx(t), &hosts.Download{Path: tg.Dir + "/nope"})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want fs.ErrNotExist, got %v", err)
	}
	if !tg.Sudo {
		return
	}
	// Through sudo (cat, not sftp) too, told by exit status, not text.
	_, err = tg.Transport.Fetch(ctx(t), &hosts.Download{Path: tg.Dir + "/nope", Sudo: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("sudo: want fs.ErrNotExist, got %v", err)
	}
}

func testFetchLocal(t *testing.T, tg *Target) {
	if _, err := tg.Transport.Push(ctx(t), &hosts.Upload{Path: tg.Dir + "/f", Content: []byte("content")}); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "out")
	b, err := tg.Transport.Fetch(ctx(t), &hosts.Download{Path: tg.Dir + "/f", LocalPath: local})
	if err != nil || b != nil {
		t.Fatalf("fetch: %q %v", b, err)
	}
	if got, _ := os.ReadFile(local); string(got) != "content" {
		t.Fatalf("local file %q", got)
	}
}

func testClosed(t *testing.T, tg *Target) {
	tg.Transport.Close()
	err := tg.Transport.Run(ctx(t), &hosts.Command{Cmd: "true"})
	if !errors.Is(err, hosts.ErrConnLost) {
		t.Fatalf("want ErrConnLost after Close, got %v", err)
	}
}
