package executor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plan-dev/plan/dsl"
)

func fetchToStep(dest string) tStep {
	return tStep{name: "snap", kind: dsl.StepFetch, build: func(*tEval) *dsl.Step {
		return &dsl.Step{Kind: dsl.StepFetch, Name: "snap", Source: "/var/backup/snap.db", Destination: dest, Sudo: true}
	}}
}

// A fetch with a destination streams the remote file into a local file
// (directories made, mode 0600), keeps no content, and shows it nowhere:
// not in events, the log or the summary.
func TestFetchToLocalFile(t *testing.T) {
	l := newLab("cp1")
	secret := []byte("etcd-snapshot-with-a-secret-inside\x00\x01")
	l.host("cp1").WriteFile("/var/backup/snap.db", secret, 0o600, "root", "root")
	dest := filepath.Join(t.TempDir(), "backups", "cp1", "snap.db")
	g := newGraph(&tTask{name: "backup", hosts: []string{"cp1"}, steps: []tStep{fetchToStep(dest)}})
	sum, rec := runGraph(t, context.Background(), g, l, Options{})
	if sum.Failed != 0 {
		t.Fatalf("failed: %+v", sum.Failures)
	}
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("local file %q, %v; want the remote file", got, err)
	}
	fi, _ := os.Stat(dest)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("local file mode %v, want 0600", fi.Mode().Perm())
	}
	ev := rec.node(t, "backup[cp1]")
	log := readFile(t, ev.LogFile)
	if !strings.Contains(log, "fetched /var/backup/snap.db to local "+dest) {
		t.Errorf("log does not say where the file went:\n%s", log)
	}
	for _, e := range rec.all() {
		if strings.Contains(e.Text+e.Error+e.Reason, "etcd-snapshot-with") {
			t.Errorf("an event shows the fetched content: %+v", e)
		}
	}
	if strings.Contains(log, "etcd-snapshot-with") {
		t.Errorf("the log shows the fetched content")
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".*"))
	if len(matches) != 0 {
		t.Errorf("temp files left beside the destination: %v", matches)
	}
}

// A dry run writes nothing on the operator's machine; a failed fetch
// leaves no file.
func TestFetchToLocalDryRunAndFailure(t *testing.T) {
	l := newLab("cp1")
	l.host("cp1").WriteFile("/var/backup/snap.db", []byte("x"), 0o600, "root", "root")
	dest := filepath.Join(t.TempDir(), "snap.db")
	g := newGraph(&tTask{name: "backup", hosts: []string{"cp1"}, steps: []tStep{fetchToStep(dest)}})
	runGraph(t, context.Background(), g, l, Options{DryRun: true})
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("dry run wrote %s (%v)", dest, err)
	}
	l.host("cp1").RemoveFile("/var/backup/snap.db")
	sum, _ := runGraph(t, context.Background(), g, l, Options{})
	if sum.Failed != 1 {
		t.Errorf("fetch of a missing file: failed %d, want 1", sum.Failed)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("failed fetch left %s (%v)", dest, err)
	}
}
