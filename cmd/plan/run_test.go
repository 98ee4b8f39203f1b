package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func writeRunPlan(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "p.hcl")
	err := os.WriteFile(path, []byte(`
group "all" {}
task "hello" {
  on = group.all.hosts
  run "say" {
    command = "echo hello"
  }
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := dispatch(append([]string{"run"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunUsageErrors(t *testing.T) {
	dir, plan := writeRunPlan(t)
	common := []string{"--log-dir", filepath.Join(dir, "logs"), "--state", filepath.Join(dir, "state.json")}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad output", []string{plan, "--output", "yaml"}, "--output must be text or json"},
		{"bad parallel", []string{plan, "--parallel", "0"}, "at least 1"},
		{"unknown flag", []string{plan, "--frobnicate"}, "frobnicate"},
		{"missing plan", []string{filepath.Join(dir, "nope.hcl")}, "nope.hcl"},
		{"unknown task", []string{plan, "-H", "nowhere.invalid", "--only", "nosuchtask"}, "no task named nosuchtask"},
	} {
		code, _, stderr := runCmd(append(tc.args, common...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, stderr, exitUsage, tc.want)
		}
	}
}

// A plan whose group is empty has no nodes: there is nothing to run, which
// is a mistake on the command line (no -H), not a success, and no log
// directory is made for it.
func TestRunNothingToDo(t *testing.T) {
	dir, plan := writeRunPlan(t)
	logs := filepath.Join(dir, "logs")
	code, stdout, stderr := runCmd(plan, "--log-dir", logs, "--state", filepath.Join(dir, "s.json"))
	if code != exitUsage || !strings.Contains(stderr, "nothing to run") || !strings.Contains(stderr, "-H") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(logs); !os.IsNotExist(err) {
		t.Errorf("a log directory was made: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".plan")); !os.IsNotExist(err) {
		t.Errorf(".plan was made: %v", err)
	}
}

func TestNewRunDir(t *testing.T) {
	base := filepath.Join(t.TempDir(), "runs")
	now := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)
	first, err := newRunDir(base, now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := newRunDir(base, now)
	if err != nil {
		t.Fatal(err)
	}
	if first == second || filepath.Base(first) != "20261127-170000" {
		t.Errorf("run dirs %s and %s", first, second)
	}
	if target, err := os.Readlink(filepath.Join(base, "latest")); err != nil || target != filepath.Base(second) {
		t.Errorf("latest -> %q (%v), want %s", target, err, filepath.Base(second))
	}
}

// One SIGTERM ends the run within a bound even when the run ignores its
// cancelled context (a connection stuck where no context reaches): the
// state is flushed and plan exits 130. `timeout plan run` sends only one.
func TestInterruptEndsAStuckRunWithinABound(t *testing.T) {
	oldBound, oldExit := interruptBound, exit
	t.Cleanup(func() { interruptBound, exit = oldBound, oldExit })
	interruptBound = 200 * time.Millisecond
	codes := make(chan int, 1)
	exit = func(code int) { codes <- code }
	var cancelled, flushed atomic.Bool
	var stderr syncBuffer
	stop := handleInterrupts(func() { cancelled.Store(true) }, &stderr, func() { flushed.Store(true) })
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-codes:
		if code != 130 || !cancelled.Load() || !flushed.Load() {
			t.Fatalf("exit %d, cancelled %v, state flushed %v", code, cancelled.Load(), flushed.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a run that does not stop kept plan alive after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "exiting now") {
		t.Fatalf("stderr: %q", stderr.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
