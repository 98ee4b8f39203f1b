package integration

// End-to-end tests: the real `plan` binary, built once in TestMain, runs
// plans against real OpenSSH sshd hosts from the lab (network namespaces on
// this machine; root needed, as in CI).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/executor"
	"github.com/plan-dev/plan/integration/lab"
)

var (
	planBin string   // the built plan binary
	e2eLab  *lab.Lab // three light hosts shared by the e2e tests
)

func TestMain(m *testing.M) {
	os.Exit(e2eMain(m))
}

// skipReason, when set, is why the e2e tests cannot run here (not root:
// the lab needs network namespaces and mounts). CI runs as root.
var skipReason string

// needLab skips a test when the lab cannot exist on this machine.
func needLab(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func e2eMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipReason = "e2e tests need root for the lab hosts"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "plan-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	planBin = filepath.Join(dir, "plan")
	build := exec.Command("go", "build", "-o", planBin, "github.com/plan-dev/plan/cmd/plan")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build plan:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e2eLab, err = lab.Up(ctx, lab.Options{Hosts: 3, Name: "e2e-executor"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: lab up:", err)
		return 1
	}
	defer e2eLab.Close()
	return m.Run()
}

// hostArgs binds the lab's hosts to the plan's first group, through the
// lab's ssh_config.
func hostArgs() []string {
	var names []string
	for _, h := range e2eLab.Hosts {
		names = append(names, h.Alias)
	}
	return []string{"-F", e2eLab.SSHConfig, "-H", strings.Join(names, ",")}
}

// planRun is one finished `plan run`.
type planRun struct {
	exit   int
	events []executor.Event
	stdout string
	stderr string
}

func (r *planRun) summary(t *testing.T) *executor.Summary {
	t.Helper()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Kind == executor.EventRunFinished && r.events[i].Summary != nil {
			return r.events[i].Summary
		}
	}
	t.Fatalf("no summary in the output:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	return nil
}

// node returns a node's node_finished event.
func (r *planRun) node(t *testing.T, id string) executor.Event {
	t.Helper()
	for _, ev := range r.events {
		if ev.Kind == executor.EventNodeFinished && ev.Node == id {
			return ev
		}
	}
	t.Fatalf("no node_finished for %s:\n%s", id, r.stdout)
	return executor.Event{}
}

// writePlan writes an HCL plan into dir and returns its path.
func writePlan(t *testing.T, dir, hcl string) string {
	t.Helper()
	p := filepath.Join(dir, "plan.hcl")
	if err := os.WriteFile(p, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPlan(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// plan runs `plan run --output json ARGS... -F ... -H ...` in dir, on the executor lab.
func plan(t *testing.T, dir string, args ...string) *planRun {
	t.Helper()
	return planArgs(t, dir, append(args, hostArgs()...)...)
}

// planArgs runs `plan run --output json ARGS...` in dir: the hosts are in ARGS.
func planArgs(t *testing.T, dir string, args ...string) *planRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, planBin, append([]string{"run", "--output", "json"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := &planRun{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("plan run: %v\n%s", err, stderr.String())
	}
	r.events = parseEvents(t, r.stdout)
	return r
}

func parseEvents(t *testing.T, out string) []executor.Event {
	t.Helper()
	var evs []executor.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev executor.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not a JSON event: %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// onHost runs a shell script inside a lab host (not over SSH).
func onHost(t *testing.T, host int, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e2eLab.Exec(ctx, e2eLab.Hosts[host], script)
	if err != nil {
		t.Fatalf("on %s: %s: %v\n%s", e2eLab.Hosts[host].Name, script, err, out)
	}
	return string(out)
}

// node is a node id for a lab host index: task[plabID-hN].
func node(task string, host int) string {
	return task + "[" + e2eLab.Hosts[host].Alias + "]"
}
