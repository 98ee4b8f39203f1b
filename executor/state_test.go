package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts/hoststest"
)

// resumeGraph: token (sensitive output from stdout) on h1, then a file
// with it on h2, then a step that can be made to fail.
func resumeGraph(failLast *atomic.Bool) *tGraph {
	return newGraph(
		&tTask{name: "token", hosts: []string{"h1"}, steps: []tStep{runStep("make", "make-token")},
			outputs: func(e *tEval) map[string]cty.Value {
				return map[string]cty.Value{
					"value": cty.StringVal(strings.TrimSpace(e.results[0].Stdout)).Mark(dsl.Sensitive),
					"plain": cty.StringVal("visible"),
				}
			}},
		&tTask{name: "use", hosts: []string{"h2"}, deps: []string{"token"}, steps: []tStep{{
			name: "f", kind: dsl.StepFile, build: func(e *tEval) *dsl.Step {
				return &dsl.Step{Kind: dsl.StepFile, Name: "f", Destination: "/token",
					Content: []byte(e.upOut("token", "h1", "value"))}
			}}}},
		&tTask{name: "last", hosts: []string{"h2"}, deps: []string{"use"}, steps: []tStep{runStep("l", "last")}},
	)
}

func TestResumeSkipsWhatSucceeded(t *testing.T) {
	dir := t.TempDir()
	l := newLab("h1", "h2")
	var failLast atomic.Bool
	failLast.Store(true)
	var tokens atomic.Int32
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		switch r.Cmd {
		case "make-token":
			tokens.Add(1)
			r.Stdout.Write([]byte("s3cret-token-value\n"))
		case "last":
			if failLast.Load() {
				return hoststest.FakeExit(2, "")
			}
		}
		return nil
	})
	open := func() *State {
		s, err := OpenState(filepath.Join(dir, "state.json"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	g := resumeGraph(&failLast)

	sum, _ := runGraph(t, context.Background(), g, l, Options{State: open()})
	if sum.Failed != 1 || sum.Changed != 2 {
		t.Fatalf("first run: failed %d changed %d", sum.Failed, sum.Changed)
	}
	raw := readFile(t, filepath.Join(dir, "state.json"))
	if strings.Contains(raw, "s3cret-token-value") {
		t.Fatalf("state holds the sensitive output in clear:\n%s", raw)
	}
	if !strings.Contains(raw, "visible") || !strings.Contains(raw, "sealed") {
		t.Errorf("state lacks the plain output or the sealed one:\n%s", raw)
	}
	if fi, err := os.Stat(filepath.Join(dir, "state.json.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}

	// Second run: the failure is fixed; token and use are up to date, and
	// last still sees... nothing new: it runs.
	failLast.Store(false)
	l.host("h2").RemoveFile("/token") // prove "use" does not run again
	sum, rec := runGraph(t, context.Background(), g, l, Options{State: open()})
	if sum.UpToDate != 2 || sum.Changed != 1 || sum.Failed != 0 {
		t.Fatalf("second run: up to date %d changed %d failed %d", sum.UpToDate, sum.Changed, sum.Failed)
	}
	if tokens.Load() != 1 {
		t.Errorf("token made %d times, want once", tokens.Load())
	}
	if _, ok := l.host("h2").File("/token"); ok {
		t.Error("use ran again though up to date")
	}
	if got := rec.node(t, "token[h1]"); got.Status != StatusUpToDate {
		t.Errorf("token: %s", got.Status)
	}

	// Third run with --from use: use runs again and gets the token from
	// the sealed state.
	sum, _ = runGraph(t, context.Background(), g, l, Options{State: open(), From: []string{"use"}})
	if sum.UpToDate != 1 || sum.Failed != 0 {
		t.Fatalf("--from run: up to date %d failed %d", sum.UpToDate, sum.Failed)
	}
	if f, _ := l.host("h2").File("/token"); string(f.Data) != "s3cret-token-value" {
		t.Errorf("/token = %q after --from, want the sealed token", f.Data)
	}

	// --force runs everything.
	sum, _ = runGraph(t, context.Background(), g, l, Options{State: open(), Force: true})
	if sum.UpToDate != 0 || tokens.Load() != 2 {
		t.Errorf("--force: up to date %d, tokens %d", sum.UpToDate, tokens.Load())
	}
}

func TestChangedInputsRunAgain(t *testing.T) {
	dir := t.TempDir()
	l := newLab("h1")
	task := &tTask{name: "A", hosts: []string{"h1"}, steps: []tStep{runStep("a", "a")}, version: "1"}
	g := newGraph(task, &tTask{name: "B", hosts: []string{"h1"}, deps: []string{"A"}, steps: []tStep{runStep("b", "b")}})
	st := func() *State { s, _ := OpenState(filepath.Join(dir, "s.json")); return s }
	runGraph(t, context.Background(), g, l, Options{State: st()})
	task.version = "2"
	sum, _ := runGraph(t, context.Background(), g, l, Options{State: st()})
	if sum.UpToDate != 1 || sum.Changed != 1 {
		t.Errorf("after changing A: up to date %d changed %d, want B up to date, A run", sum.UpToDate, sum.Changed)
	}
}

func TestOnlyRunsSubgraph(t *testing.T) {
	l := newLab("h1", "h2")
	g := newGraph(
		&tTask{name: "base", hosts: []string{"h1", "h2"}, steps: []tStep{runStep("base", "base")}},
		&tTask{name: "want", hosts: []string{"h1"}, deps: []string{"base"}, steps: []tStep{runStep("want", "want")}},
		&tTask{name: "other", hosts: []string{"h1", "h2"}, deps: []string{"base"}, steps: []tStep{runStep("other", "other")}},
	)
	sum, _ := runGraph(t, context.Background(), g, l, Options{Only: []string{"want"}})
	if sum.Nodes != 2 {
		t.Errorf("%d nodes, want base[h1] and want[h1]", sum.Nodes)
	}
	if got := strings.Join(l.cmds("h1"), ","); got != "base,want" {
		t.Errorf("h1 ran %q", got)
	}
	if len(l.cmds("h2")) != 0 {
		t.Errorf("h2 ran %q", l.cmds("h2"))
	}
}

// A local source rebuilt at the same path makes its node run again, though
// the fingerprint (which covers the path) did not change.
func TestChangedLocalSourceRunsAgain(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "kubelet")
	os.WriteFile(src, []byte("v1"), 0o755)
	l := newLab("h1")
	g := newGraph(&tTask{name: "bin", hosts: []string{"h1"}, steps: []tStep{{name: "kubelet", kind: dsl.StepFile,
		build: func(*tEval) *dsl.Step {
			return &dsl.Step{Kind: dsl.StepFile, Name: "kubelet", Destination: "/usr/bin/kubelet", Source: src}
		}}}})
	st := func() *State { s, _ := OpenState(filepath.Join(dir, "s.json")); return s }
	runGraph(t, context.Background(), g, l, Options{State: st()})
	sum, _ := runGraph(t, context.Background(), g, l, Options{State: st()})
	if sum.UpToDate != 1 {
		t.Fatalf("unchanged source: up to date %d, want 1", sum.UpToDate)
	}
	os.WriteFile(src, []byte("v2, longer"), 0o755)
	sum, _ = runGraph(t, context.Background(), g, l, Options{State: st()})
	if sum.UpToDate != 0 || sum.Changed != 1 {
		t.Fatalf("rebuilt source: up to date %d changed %d, want 0 and 1", sum.UpToDate, sum.Changed)
	}
	if f, _ := l.host("h1").File("/usr/bin/kubelet"); string(f.Data) != "v2, longer" {
		t.Errorf("pushed %q", f.Data)
	}
}

func TestStateIsLockedWhileOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := OpenState(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenState(p); err == nil || !strings.Contains(err.Error(), "another plan run") {
		t.Fatalf("second open: %v, want a lock error", err)
	}
	s.Close()
	s, err = OpenState(p)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}

func TestCorruptStateIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(p, []byte("{not json"), 0o600)
	if _, err := OpenState(p); err == nil {
		t.Fatal("no error for a corrupt state file")
	}
}

// Concurrent successes are saved together in the background; once Flush
// returns, the file on disk holds every one of them.
func TestConcurrentRecordsAreAllOnDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := OpenState(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("t[h%d]", i)
			if err := s.record(id, "fp"+id, map[string]cty.Value{"x": cty.NumberIntVal(int64(i))}, nil); err != nil {
				t.Error(err)
				return
			}
			if err := s.Flush(); err != nil {
				t.Error(err)
				return
			}
			var f stateFile
			data, err := os.ReadFile(p)
			if err == nil {
				err = json.Unmarshal(data, &f)
			}
			if err != nil {
				t.Error(err)
			} else if _, ok := f.Nodes[id]; !ok {
				t.Errorf("%s recorded but not on disk", id)
			}
		}()
	}
	wg.Wait()
	if err := s.forget("t[h0]"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenState(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.file.Nodes) != n-1 {
		t.Fatalf("%d nodes on disk, want %d", len(s.file.Nodes), n-1)
	}
	if _, ok, _ := s.lookup("t[h5]", "fpt[h5]"); !ok {
		t.Fatal("t[h5] not found after reopening")
	}
}

// A save that fails in the background is not lost: Flush (and Close)
// report it.
func TestBackgroundSaveErrorReportedByFlush(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	os.Mkdir(dir, 0o700)
	s, err := OpenState(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.record("a[h]", "fp", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// a file takes the directory's place: the next save cannot be written
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.record("b[h]", "fp", nil, nil); err != nil {
		t.Fatalf("record returned the save's error itself: %v", err)
	}
	err = s.Flush()
	if err == nil || !strings.Contains(err.Error(), "save run state") {
		t.Fatalf("Flush = %v, want the failed save", err)
	}
}

// A node that cannot clear its old success from the state file must not
// touch the host: the file would still say "done" for a host it changed.
func TestForgetFailureStopsTheNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	os.Mkdir(dir, 0o700)
	s, err := OpenState(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := newLab("h1")
	task := &tTask{name: "A", hosts: []string{"h1"}, steps: []tStep{runStep("a", "a")}, version: "1"}
	g := newGraph(task)
	opts := Options{State: s, LogDir: filepath.Join(t.TempDir(), "logs"), Sink: func(Event) {}}
	if sum, err := Run(context.Background(), g, l.connect, opts); err != nil || sum.Changed != 1 {
		t.Fatalf("first run: %+v %v", sum, err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// a file takes the directory's place: no save can be written now
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	task.version = "2"
	rec := &recorder{}
	opts.Sink = rec.sink
	sum, err := Run(context.Background(), g, l.connect, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 {
		t.Fatalf("want the node failed, got %+v", sum)
	}
	if got := l.cmds("h1"); len(got) != 1 {
		t.Fatalf("the node ran on the host although its state could not be cleared: %q", got)
	}
	if ev := rec.node(t, "A[h1]"); !strings.Contains(ev.Error, "run state") {
		t.Fatalf("error does not name the state: %q", ev.Error)
	}
}
