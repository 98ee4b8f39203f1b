package integration

import (
	"strings"
	"testing"
)

// Consecutive steps on a host go to one reused shell on real OpenSSH: the
// commands of a chain of tasks share their session's shell, while each is
// still a process of its own. The first runs in the shell that starts the
// session's sh -s (it rides in the exec request, issue 18), the others in
// that sh -s, its child. With --session-per-command each command is its
// session's process, a child of sshd.
func TestE2EReusedShellsAndSessionPerCommand(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	p := writePlan(t, dir, `
group "all" {}

task "one" {
  on = group.all.hosts
  run "ids" {
    command = "echo \"$PPID $(cat /proc/$PPID/comm) $$ $(awk '{print $4}' /proc/$PPID/stat)\" > /root/e2e-shells"
  }
}

task "two" {
  on         = group.all.hosts
  depends_on = [task.one]
  run "ids" {
    command = "echo \"$PPID $(cat /proc/$PPID/comm) $$ $(awk '{print $4}' /proc/$PPID/stat)\" >> /root/e2e-shells"
  }
}

task "three" {
  on         = group.all.hosts
  depends_on = [task.two]
  run "ids" {
    command = "echo \"$PPID $(cat /proc/$PPID/comm) $$ $(awk '{print $4}' /proc/$PPID/stat)\" >> /root/e2e-shells"
  }
}
`)
	// ids reads, for the 3 commands, their parents (pid and name), their
	// own pids and their parents' parents.
	type id struct{ parent, name, self, grand string }
	ids := func() (all []id, parents, names, selves map[string]bool) {
		parents, names, selves = map[string]bool{}, map[string]bool{}, map[string]bool{}
		f := strings.Fields(onHost(t, 0, "cat /root/e2e-shells"))
		if len(f) != 12 {
			t.Fatalf("want 3 lines of parent pid, parent name, pid, parent's parent pid; got %q", f)
		}
		for i := 0; i < len(f); i += 4 {
			all = append(all, id{f[i], f[i+1], f[i+2], f[i+3]})
			parents[f[i]], names[f[i+1]], selves[f[i+2]] = true, true, true
		}
		return all, parents, names, selves
	}

	r := plan(t, dir, p, "--no-state")
	if r.exit != 0 {
		t.Fatalf("exit %d:\n%s", r.exit, r.stderr)
	}
	all, parents, names, selves := ids()
	if len(selves) != 3 || names["sshd"] || all[1].parent != all[2].parent || all[1].grand != all[0].parent {
		t.Errorf("reused shells: %+v (parents %v %v); want three processes, the first a child of the starting shell, "+
			"the others of its sh -s", all, parents, names)
	}

	r = plan(t, dir, p, "--no-state", "--session-per-command")
	if r.exit != 0 {
		t.Fatalf("--session-per-command: exit %d:\n%s", r.exit, r.stderr)
	}
	_, parents, names, selves = ids()
	if len(names) != 1 || !names["sshd"] || len(selves) != 3 {
		t.Errorf("--session-per-command: parents %v %v, processes %v; want sshd's children", parents, names, selves)
	}
	onHost(t, 0, "rm -f /root/e2e-shells")
}
