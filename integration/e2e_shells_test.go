package integration

import (
	"strings"
	"testing"
)

// Consecutive steps on a host go to one reused shell on real OpenSSH: the
// commands of a chain of tasks share their parent process, a shell, while
// each is still a process of its own. With --session-per-command each
// command is its session's process, a child of sshd.
func TestE2EReusedShellsAndSessionPerCommand(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	p := writePlan(t, dir, `
group "all" {}

task "one" {
  on = group.all.hosts
  run "ids" {
    command = "echo \"$PPID $(cat /proc/$PPID/comm) $$\" > /root/e2e-shells"
  }
}

task "two" {
  on         = group.all.hosts
  depends_on = [task.one]
  run "ids" {
    command = "echo \"$PPID $(cat /proc/$PPID/comm) $$\" >> /root/e2e-shells"
  }
}

task "three" {
  on         = group.all.hosts
  depends_on = [task.two]
  run "ids" {
    command = "echo \"$PPID $(cat /proc/$PPID/comm) $$\" >> /root/e2e-shells"
  }
}
`)
	// ids reads, for the 3 commands, their parents (pid and name) and
	// their own pids.
	ids := func() (parents, names, selves map[string]bool) {
		parents, names, selves = map[string]bool{}, map[string]bool{}, map[string]bool{}
		f := strings.Fields(onHost(t, 0, "cat /root/e2e-shells"))
		if len(f) != 9 {
			t.Fatalf("want 3 lines of parent pid, parent name, pid; got %q", f)
		}
		for i := 0; i < len(f); i += 3 {
			parents[f[i]], names[f[i+1]], selves[f[i+2]] = true, true, true
		}
		return parents, names, selves
	}

	r := plan(t, dir, p, "--no-state")
	if r.exit != 0 {
		t.Fatalf("exit %d:\n%s", r.exit, r.stderr)
	}
	parents, names, selves := ids()
	if len(parents) != 1 || len(selves) != 3 || names["sshd"] {
		t.Errorf("reused shells: parents %v %v, processes %v; want one shell parent, three processes", parents, names, selves)
	}

	r = plan(t, dir, p, "--no-state", "--session-per-command")
	if r.exit != 0 {
		t.Fatalf("--session-per-command: exit %d:\n%s", r.exit, r.stderr)
	}
	parents, names, selves = ids()
	if len(names) != 1 || !names["sshd"] || len(selves) != 3 {
		t.Errorf("--session-per-command: parents %v %v, processes %v; want sshd's children", parents, names, selves)
	}
	onHost(t, 0, "rm -f /root/e2e-shells")
}
