package integration

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/executor"
)

// sshd dies on one host in the middle of a step: that node fails with the
// connection lost, the other hosts finish, and once sshd is back the
// re-run resumes on the broken host only.
func TestE2ESSHDKilledMidStep(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	for h := 0; h < 3; h++ {
		onHost(t, h, "rm -f /root/e2e-f-*")
	}
	p := writePlan(t, dir, `
group "all" {}

task "work" {
  on = group.all.hosts
  run "wait" {
    command = "if test ${target.name} = ${group.all.hosts[0].name} && ! test -e /root/e2e-f-again; then touch /root/e2e-f-started /root/e2e-f-again; sleep 60; fi; echo done > /root/e2e-f-done"
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
	h1 := e2eLab.Hosts[0]
	restarted := false
	defer func() {
		if !restarted {
			rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
			defer rcancel()
			e2eLab.RestartSSHD(rctx, h1)
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := e2eLab.Exec(ctx, h1, "test -e /root/e2e-f-started"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the step never started:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	if err := e2eLab.KillSSHD(h1); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != executor.ExitFailed {
		t.Fatalf("exit %v, want 1:\n%s\n%s", err, stdout.String(), stderr.String())
	}
	r := &planRun{stdout: stdout.String(), stderr: stderr.String(), events: parseEvents(t, stdout.String())}
	sum := r.summary(t)
	if sum.Failed != 1 || sum.Changed != 2 || sum.Failures[0].Node != node("work", 0) {
		t.Fatalf("failed %d changed %d failures %+v", sum.Failed, sum.Changed, sum.Failures)
	}
	if f := sum.Failures[0]; f.ExitCode != nil || !strings.Contains(strings.ToLower(f.Error), "connection") {
		t.Errorf("failure should be a lost connection, not an exit code: %+v", f)
	}

	if err := e2eLab.RestartSSHD(ctx, h1); err != nil {
		t.Fatal(err)
	}
	restarted = true
	again := plan(t, dir, p)
	sum = again.summary(t)
	if again.exit != 0 || sum.UpToDate != 2 || sum.Changed != 1 {
		t.Errorf("re-run: exit %d up to date %d changed %d, want 0, 2, 1:\n%s\n%s", again.exit, sum.UpToDate, sum.Changed, again.stdout, again.stderr)
	}
	onHost(t, 0, "test -e /root/e2e-f-done")
}
