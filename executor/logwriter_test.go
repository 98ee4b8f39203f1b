package executor

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts/hoststest"
)

// slowLogs makes every log file take a while to write, so a run that did
// not wait for its log writer would return before its files exist.
func slowLogs(t *testing.T, d time.Duration) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	testLogHook = func(string) {
		n.Add(1)
		time.Sleep(d)
	}
	t.Cleanup(func() { testLogHook = nil })
	return &n
}

// logPattern is the whole log of a node: its header, body (exactly), and
// last line; only the start time and the duration vary.
func logPattern(task, host, body string, status Status, errText string) *regexp.Regexp {
	last := "# " + regexp.QuoteMeta(string(status)) + ` after [0-9.]+[a-zµ]+`
	if errText != "" {
		last += regexp.QuoteMeta(": " + errText)
	}
	return regexp.MustCompile(`\A# ` + regexp.QuoteMeta(task+" on "+host+", started ") + `\S+\n` +
		regexp.QuoteMeta(body) + last + `\n\z`)
}

// logFiles lists the files under dir, relative to it.
func logFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// Every node that ran has its log on disk, complete and redacted, when Run
// returns, even when the files are slow to write; the paths in the events
// and the summary are the files'. A failed node and its skipped dependants
// are covered, and a node whose when is false.
func TestLogsAreOnDiskWhenRunReturns(t *testing.T) {
	writes := slowLogs(t, 5*time.Millisecond)
	names := []string{"h1", "h2", "h3"}
	l := newLab(names...)
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "fail" {
			fmt.Fprint(r.Stdout, "half done\n")
			fmt.Fprint(r.Stderr, "disk full\n")
			return hoststest.FakeExit(3, "")
		}
		fmt.Fprintf(r.Stdout, "ran %s with hunter2-secret\n", r.Cmd)
		return nil
	})
	var tasks []*tTask
	for i := 0; i < 6; i++ {
		t := &tTask{name: fmt.Sprintf("t%d", i), hosts: names, steps: []tStep{runStep("s", fmt.Sprintf("c%d", i))}}
		if i > 0 {
			t.deps = []string{tasks[i-1].name}
		}
		tasks = append(tasks, t)
	}
	tasks = append(tasks,
		&tTask{name: "bad", hosts: []string{"h2"}, deps: []string{"t5"}, steps: []tStep{runStep("b", "fail")}},
		&tTask{name: "after", hosts: []string{"h2"}, deps: []string{"bad"}, steps: []tStep{runStep("a", "after")}},
		&tTask{name: "off", hosts: []string{"h3"}, when: boolp(false), steps: []tStep{runStep("o", "off")}},
	)
	g := newGraph(tasks...)
	g.secrets = []string{"hunter2-secret"}
	logDir := filepath.Join(t.TempDir(), "logs")
	sum, rec := runGraph(t, context.Background(), g, l, Options{LogDir: logDir})

	if sum.Failed != 1 || sum.Changed != 18 || sum.Skipped != 2 || len(sum.LogErrors) != 0 {
		t.Fatalf("summary %+v", sum)
	}
	want := map[string]*regexp.Regexp{}
	for i := 0; i < 6; i++ {
		for _, h := range names {
			task := fmt.Sprintf("t%d", i)
			want[h+"/"+task+".log"] = logPattern(task, h, fmt.Sprintf("== run s\nran c%d with [REDACTED]\n", i), StatusChanged, "")
		}
	}
	badErr := rec.node(t, "bad[h2]").Error
	want["h2/bad.log"] = logPattern("bad", "h2", "== run b\nhalf done\ndisk full\n   failed: "+badErr+"\n", StatusFailed, badErr)
	want["h3/off.log"] = logPattern("off", "h3", "task skipped: when is false\n", StatusSkipped, "")

	var wantFiles []string
	for f := range want {
		wantFiles = append(wantFiles, f)
	}
	sort.Strings(wantFiles)
	if got := logFiles(t, logDir); strings.Join(got, " ") != strings.Join(wantFiles, " ") {
		t.Fatalf("log files\n got %v\nwant %v", got, wantFiles)
	}
	if writes.Load() != int64(len(want)) {
		t.Errorf("%d log writes, want %d", writes.Load(), len(want))
	}
	for rel, re := range want {
		path := filepath.Join(logDir, rel)
		if got := readFile(t, path); !re.MatchString(got) {
			t.Errorf("%s:\n%s\nwant it to match %s", rel, got, re)
		}
		node := strings.TrimSuffix(filepath.Base(rel), ".log") + "[" + filepath.Dir(rel) + "]"
		if ev := rec.node(t, node); ev.LogFile != path {
			t.Errorf("%s: node_finished names %q, want %q", node, ev.LogFile, path)
		}
	}
	if ev := rec.node(t, "after[h2]"); ev.LogFile != "" || ev.Status != StatusSkipped {
		t.Errorf("after[h2] did not run but has %s, log %q", ev.Status, ev.LogFile)
	}
	if f := sum.Failures[0]; f.LogFile != filepath.Join(logDir, "h2", "bad.log") {
		t.Errorf("failure names log %q", f.LogFile)
	}
	if last := rec.all()[len(rec.all())-1]; last.Kind != EventRunFinished {
		t.Errorf("last event %s", last.Kind)
	}
}

// A node's dependants do not wait for its log file.
func TestLogWritesAreOffTheNodesPath(t *testing.T) {
	release := make(chan struct{})
	testLogHook = func(string) { <-release }
	t.Cleanup(func() { testLogHook = nil })
	l := newLab("h1")
	g := newGraph(
		&tTask{name: "A", hosts: []string{"h1"}, steps: []tStep{runStep("a", "a")}},
		&tTask{name: "B", hosts: []string{"h1"}, deps: []string{"A"}, steps: []tStep{runStep("b", "b")}},
	)
	bRan := make(chan struct{})
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "b" {
			close(bRan)
		}
		return nil
	})
	done := make(chan *Summary)
	logDir := filepath.Join(t.TempDir(), "logs")
	go func() {
		sum, err := Run(context.Background(), g, l.connect, Options{LogDir: logDir})
		if err != nil {
			t.Error(err)
		}
		done <- sum
	}()
	waitFor(t, bRan, "B to run while A's log is still being written")
	select {
	case <-done:
		t.Fatal("Run returned before the logs were written")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case sum := <-done:
		if sum.Changed != 2 {
			t.Errorf("summary %+v", sum)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if got := logFiles(t, logDir); strings.Join(got, " ") != "h1/A.log h1/B.log" {
		t.Errorf("log files %v", got)
	}
}

// A cancelled run waits for the logs of the nodes that ran, the
// interrupted one included.
func TestCancelledRunWritesEveryLog(t *testing.T) {
	slowLogs(t, 10*time.Millisecond)
	names := []string{"h1", "h2", "h3", "h4"}
	l := newLab(names...)
	started := make(chan struct{})
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "long" {
			fmt.Fprint(r.Stdout, "waiting\n")
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}
		fmt.Fprint(r.Stdout, "quick\n")
		return nil
	})
	g := newGraph(
		// long waits for every quick node: none is running when it is cancelled.
		&tTask{name: "quick", hosts: names[1:], steps: []tStep{runStep("q", "quick")}},
		&tTask{name: "long", hosts: []string{"h1"}, deps: []string{"quick"}, steps: []tStep{runStep("l", "long")}},
		&tTask{name: "after", hosts: []string{"h1"}, deps: []string{"long"}, steps: []tStep{runStep("a", "after")}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	logDir := filepath.Join(t.TempDir(), "logs")
	sum, rec := runGraph(t, ctx, g, l, Options{LogDir: logDir})
	if !sum.Interrupted || sum.Failed != 1 {
		t.Fatalf("summary %+v", sum)
	}
	got := logFiles(t, logDir)
	if strings.Join(got, " ") != "h1/long.log h2/quick.log h3/quick.log h4/quick.log" {
		t.Fatalf("log files %v", got)
	}
	ev := rec.node(t, "long[h1]")
	re := logPattern("long", "h1", "== run l\nwaiting\n   failed: "+ev.Error+"\n", StatusFailed, ev.Error)
	if log := readFile(t, ev.LogFile); !re.MatchString(log) {
		t.Errorf("long[h1] log:\n%s", log)
	}
	if sum.Failures[0].LogFile != filepath.Join(logDir, "h1", "long.log") {
		t.Errorf("failure names log %q", sum.Failures[0].LogFile)
	}
}

// A node whose evaluator panics fails alone, and its log (written, and
// waited for) says why.
func TestPanickingNodeStillGetsItsLog(t *testing.T) {
	slowLogs(t, 5*time.Millisecond)
	l := newLab("h1")
	g := newGraph(
		&tTask{name: "bad", hosts: []string{"h1"}, steps: []tStep{runStep("ok", "ok"), {name: "boom", kind: dsl.StepRun}}},
		&tTask{name: "good", hosts: []string{"h1"}, steps: []tStep{runStep("g", "g")}},
	)
	sum, rec := runGraph(t, context.Background(), g, l, Options{})
	if sum.Failed != 1 || !strings.Contains(sum.Failures[0].Error, "internal error") {
		t.Fatalf("summary %+v", sum)
	}
	f := sum.Failures[0]
	if f.LogFile == "" || rec.node(t, "bad[h1]").LogFile != f.LogFile {
		t.Fatalf("failure log %q", f.LogFile)
	}
	re := logPattern("bad", "h1", "== run ok\n", StatusFailed, f.Error)
	if log := readFile(t, f.LogFile); !re.MatchString(log) {
		t.Errorf("log:\n%s", log)
	}
	readFile(t, rec.node(t, "good[h1]").LogFile)
}

// A log that cannot be written is not named, and the summary says why; the
// other logs are written.
func TestLogWriteErrorIsReported(t *testing.T) {
	logDir := filepath.Join(t.TempDir(), "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// h2's directory cannot be made: a file has its name.
	if err := os.WriteFile(filepath.Join(logDir, "h2"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l := newLab("h1", "h2")
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		if r.Cmd == "fail" {
			return hoststest.FakeExit(1, "no")
		}
		return nil
	})
	g := newGraph(
		&tTask{name: "A", hosts: []string{"h1", "h2"}, steps: []tStep{runStep("a", "a")}},
		&tTask{name: "B", hosts: []string{"h1", "h2"}, deps: []string{"A"}, steps: []tStep{runStep("b", "fail")}},
	)
	sum, _ := runGraph(t, context.Background(), g, l, Options{LogDir: logDir})
	if len(sum.LogErrors) != 2 || !strings.HasPrefix(sum.LogErrors[0], "A[h2]: ") ||
		!strings.HasPrefix(sum.LogErrors[1], "B[h2]: ") || !strings.Contains(sum.LogErrors[0], "not a directory") {
		t.Fatalf("log errors %q", sum.LogErrors)
	}
	for _, f := range sum.Failures {
		switch f.Host {
		case "h1":
			if f.LogFile == "" {
				t.Errorf("%s: log not named", f.Node)
			} else {
				readFile(t, f.LogFile)
			}
		case "h2":
			if f.LogFile != "" {
				t.Errorf("%s names the log it could not write: %q", f.Node, f.LogFile)
			}
		}
	}
}

// A host's directory is made once (then remembered), and made again if it
// goes away during the run.
func TestLogDirMadeAgainWhenRemoved(t *testing.T) {
	logDir := filepath.Join(t.TempDir(), "logs")
	var removed atomic.Bool
	testLogHook = func(path string) {
		// Before B[h1]'s log: take h1's directory away.
		if filepath.Base(path) == "B.log" && removed.CompareAndSwap(false, true) {
			if err := os.RemoveAll(filepath.Dir(path)); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { testLogHook = nil })
	l := newLab("h1")
	g := newGraph(
		&tTask{name: "A", hosts: []string{"h1"}, steps: []tStep{runStep("a", "a")}},
		&tTask{name: "B", hosts: []string{"h1"}, deps: []string{"A"}, steps: []tStep{runStep("b", "b")}},
	)
	sum, _ := runGraph(t, context.Background(), g, l, Options{LogDir: logDir})
	if len(sum.LogErrors) != 0 || sum.Changed != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if got := logFiles(t, logDir); strings.Join(got, " ") != "h1/B.log" {
		t.Errorf("log files %v", got)
	}
}
