package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plan-dev/plan/executor"
)

// A value made on the first host reaches files on the two others; the same
// plan run again changes nothing (up to date from the state, and, forced,
// thanks to its guards).
func TestE2EValueAcrossHostsAndIdempotence(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	onHost(t, 0, "rm -f /root/e2e-a-secret")
	onHost(t, 1, "rm -f /root/e2e-a-value")
	onHost(t, 2, "rm -f /root/e2e-a-value")
	p := writePlan(t, dir, `
group "all" {}

task "make" {
  on = group.all.hosts[0]
  run "gen" {
    command = "head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /root/e2e-a-secret"
    unless  = "test -s /root/e2e-a-secret"
  }
  fetch "read" {
    source = "/root/e2e-a-secret"
  }
  output "value" {
    value = step.read.content
  }
}

task "spread" {
  on = [group.all.hosts[1], group.all.hosts[2]]
  file "value" {
    destination = "/root/e2e-a-value"
    content     = "made on ${group.all.hosts[0].name}: ${task.make.output.value}\n"
    mode        = "0640"
  }
}
`)
	first := plan(t, dir, p)
	if first.exit != 0 {
		t.Fatalf("first run exit %d:\n%s\n%s", first.exit, first.stdout, first.stderr)
	}
	sum := first.summary(t)
	if sum.Changed != 3 || sum.Failed != 0 {
		t.Errorf("first run: changed %d failed %d, want 3 and 0", sum.Changed, sum.Failed)
	}
	secret := strings.TrimSpace(onHost(t, 0, "cat /root/e2e-a-secret"))
	if len(secret) != 24 {
		t.Fatalf("secret on h1 %q", secret)
	}
	want := "made on " + e2eLab.Hosts[0].Alias + ": " + secret + "\n"
	for _, h := range []int{1, 2} {
		if got := onHost(t, h, "cat /root/e2e-a-value"); got != want {
			t.Errorf("%s has %q, want %q", e2eLab.Hosts[h].Name, got, want)
		}
		if mode := strings.TrimSpace(onHost(t, h, "stat -c %a /root/e2e-a-value")); mode != "640" {
			t.Errorf("%s: mode %s", e2eLab.Hosts[h].Name, mode)
		}
	}

	second := plan(t, dir, p)
	sum = second.summary(t)
	if second.exit != 0 || sum.UpToDate != 3 || sum.Changed != 0 {
		t.Errorf("second run: exit %d up to date %d changed %d, want 0, 3, 0", second.exit, sum.UpToDate, sum.Changed)
	}

	forced := plan(t, dir, p, "--force")
	sum = forced.summary(t)
	if forced.exit != 0 || sum.Changed != 0 || sum.OK != 3 {
		t.Errorf("forced run: exit %d ok %d changed %d, want 0, 3, 0:\n%s", forced.exit, sum.OK, sum.Changed, forced.stdout)
	}
	if got := strings.TrimSpace(onHost(t, 0, "cat /root/e2e-a-secret")); got != secret {
		t.Errorf("the forced run made a new secret")
	}
}

// A node fails in the middle; independent work goes on; the re-run after
// the fix resumes without repeating what succeeded.
func TestE2EFailureThenResume(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	for h := 0; h < 3; h++ {
		onHost(t, h, "rm -f /root/e2e-b-*")
	}
	onHost(t, 1, "touch /root/e2e-b-broken")
	p := writePlan(t, dir, `
group "all" {}

task "prepare" {
  on = group.all.hosts
  run "count" {
    command = "echo ran >> /root/e2e-b-prepare"
  }
}

task "build" {
  on = group.all.hosts
  depends_on = [task.prepare]
  run "check" {
    command = "if test -e /root/e2e-b-broken; then echo 'build: the widget is broken' >&2; exit 7; fi; echo ok > /root/e2e-b-built"
  }
}

task "finish" {
  on = group.all.hosts
  depends_on = [task.build]
  run "done" {
    command = "echo done > /root/e2e-b-finished"
  }
}
`)
	first := plan(t, dir, p)
	sum := first.summary(t)
	if first.exit != 1 || sum.Failed != 1 || sum.Skipped != 1 || sum.Changed != 7 {
		t.Fatalf("first run: exit %d failed %d skipped %d changed %d, want 1, 1, 1, 7:\n%s",
			first.exit, sum.Failed, sum.Skipped, sum.Changed, first.stdout)
	}
	f := sum.Failures[0]
	if f.Node != node("build", 1) || f.Step != "check" || f.ExitCode == nil || *f.ExitCode != 7 {
		t.Errorf("failure %+v", f)
	}
	if len(f.Stderr) == 0 || f.Stderr[len(f.Stderr)-1] != "build: the widget is broken" {
		t.Errorf("stderr tail %q", f.Stderr)
	}
	if !strings.HasPrefix(f.Reproduce, "ssh ") || !strings.Contains(f.Reproduce, e2eLab.Hosts[1].Address) {
		t.Errorf("reproduce %q", f.Reproduce)
	}
	log, err := os.ReadFile(filepath.Join(dir, f.LogFile))
	if err != nil || !strings.Contains(string(log), "the widget is broken") {
		t.Errorf("log file %s: %v\n%s", f.LogFile, err, log)
	}
	if got := first.node(t, node("finish", 1)); got.Status != executor.StatusSkipped {
		t.Errorf("finish on h2: %s", got.Status)
	}
	if got := first.node(t, node("finish", 0)); got.Status != executor.StatusChanged {
		t.Errorf("finish on h1 (independent of h2's failure): %s", got.Status)
	}

	onHost(t, 1, "rm /root/e2e-b-broken")
	second := plan(t, dir, p)
	sum = second.summary(t)
	if second.exit != 0 || sum.UpToDate != 7 || sum.Changed != 2 {
		t.Errorf("re-run: exit %d up to date %d changed %d, want 0, 7, 2:\n%s", second.exit, sum.UpToDate, sum.Changed, second.stdout)
	}
	for h := 0; h < 3; h++ {
		if got := onHost(t, h, "cat /root/e2e-b-prepare"); got != "ran\n" {
			t.Errorf("prepare ran %d times on %s", strings.Count(got, "ran"), e2eLab.Hosts[h].Name)
		}
		onHost(t, h, "test -e /root/e2e-b-finished")
	}
}
