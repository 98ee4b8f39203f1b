package integration

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plan-dev/plan/executor"
)

// Ctrl-C in the middle: the running remote command is ended, nothing new
// starts, state keeps what succeeded, the summary is printed, exit 130.
// The re-run resumes from there.
func TestE2EInterrupt(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	for h := 0; h < 3; h++ {
		onHost(t, h, "rm -f /root/e2e-c-*")
	}
	p := writePlan(t, dir, `
group "all" {}

# quick runs on the other hosts, so slow (on the first) waits for all of
# it: nothing but slow is running when the interrupt comes.
task "quick" {
  on = [group.all.hosts[1], group.all.hosts[2]]
  run "mark" {
    command = "echo ran >> /root/e2e-c-quick"
  }
}

task "slow" {
  on = group.all.hosts[0]
  depends_on = [task.quick]
  run "wait" {
    command = "echo $$ > /root/e2e-c-slow.pid; exec sleep 120"
  }
}

task "after" {
  on = group.all.hosts[0]
  depends_on = [task.slow]
  run "mark" {
    command = "touch /root/e2e-c-after"
  }
}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, planBin, append([]string{"run", "--output", "json", p}, hostArgs()...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait (bounded) until the slow command runs on the host.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := e2eLab.Exec(ctx, e2eLab.Hosts[0], "cat /root/e2e-c-slow.pid 2>/dev/null")
		if err == nil && strings.TrimSpace(string(out)) != "" {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the slow step never started:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pid := strings.TrimSpace(onHost(t, 0, "cat /root/e2e-c-slow.pid"))
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != executor.ExitInterrupted {
		t.Fatalf("exit: %v, want code %d\n%s\n%s", err, executor.ExitInterrupted, stdout.String(), stderr.String())
	}
	r := &planRun{stdout: stdout.String(), stderr: stderr.String(), events: parseEvents(t, stdout.String())}
	sum := r.summary(t)
	if !sum.Interrupted || sum.Changed != 2 {
		t.Errorf("summary: interrupted %v changed %d, want true and 2", sum.Interrupted, sum.Changed)
	}
	if got := r.node(t, node("slow", 0)); got.Status != executor.StatusFailed || !strings.Contains(got.Error, "interrupted") {
		t.Errorf("slow: %s %q", got.Status, got.Error)
	}
	if got := r.node(t, node("after", 0)); got.Status != executor.StatusSkipped {
		t.Errorf("after: %s", got.Status)
	}
	// The remote sleep must be gone (bounded wait: the kill travels over
	// the connection as the run ends).
	gone := false
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, err := e2eLab.Exec(ctx, e2eLab.Hosts[0], "kill -0 "+pid+" 2>/dev/null"); err != nil {
			gone = true
			break
		}
	}
	if !gone {
		onHost(t, 0, "kill -9 "+pid+" || true")
		t.Errorf("the remote command (pid %s) survived the interrupt", pid)
	}
	if _, err := e2eLab.Exec(ctx, e2eLab.Hosts[0], "test -e /root/e2e-c-after"); err == nil {
		t.Error("after ran despite the interrupt")
	}

	// The re-run does not repeat quick, and runs slow again (made quick).
	writePlan(t, dir, strings.Replace(readPlan(t, p), "exec sleep 120", "true", 1))
	again := plan(t, dir, p)
	sum = again.summary(t)
	if again.exit != 0 || sum.UpToDate != 2 || sum.Changed != 2 {
		t.Errorf("re-run: exit %d up to date %d changed %d, want 0, 2, 2:\n%s", again.exit, sum.UpToDate, sum.Changed, again.stdout)
	}
	for h := 1; h < 3; h++ {
		if got := onHost(t, h, "cat /root/e2e-c-quick"); got != "ran\n" {
			t.Errorf("quick ran %d times on %s", strings.Count(got, "ran"), e2eLab.Hosts[h].Name)
		}
	}
}
