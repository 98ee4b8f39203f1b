package main

import (
	"strings"
	"testing"
)

// A group filled only by -H, used as docs/language.md does
// (group.masters.hosts[0]): without -H every command that loads the plan
// accepts it (the hosts are unknown, not an error), says how to bind them,
// and never shows HCL's raw "Invalid index".
func TestUnboundGroupsWithoutH(t *testing.T) {
	dir := writeDSLPlan(t, `group "masters" {}
group "workers" {}
locals {
  api = "https://${group.masters.hosts[0].address}:6443"
}
task "ca" {
  on = group.masters.hosts[0]
  run "key" {
    command = "echo ${local.api}"
  }
}
task "join" {
  on = group.workers.hosts
  run "join" {
    command = "echo join"
  }
}
`)
	for _, args := range [][]string{
		{"validate", "plan.hcl"},
		{"graph", "plan.hcl"},
		{"render", "plan.hcl"},
		{"hosts", "plan.hcl"},
	} {
		code, out, errs := dslCmd(t, dir, args...)
		if code != exitOK || strings.Contains(out+errs, "Invalid index") || !strings.Contains(errs, "-H masters=") {
			t.Errorf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errs)
		}
	}
	code, out, errs := dslCmd(t, dir, "run", "plan.hcl", "--no-state", "--log-dir", t.TempDir()+"/logs")
	if code != exitUsage || !strings.Contains(errs, "nothing to run") || strings.Contains(out+errs, "Invalid index") {
		t.Errorf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	// Bound, the same plan runs on the hosts given.
	code, out, errs = dslCmd(t, dir, "render", "plan.hcl", "-H", "masters=cp1", "-H", "workers=w1")
	if code != exitOK || !strings.Contains(out, "echo https://cp1:6443") || !strings.Contains(out, "join[w1]") {
		t.Errorf("bound render: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// Without -H, validate checks the steps of tasks on groups not bound yet
// against a placeholder host, and names the group.
func TestValidateChecksUnboundTasks(t *testing.T) {
	dir := writeDSLPlan(t, `variable "pkgs" {
  default = ["a", "b"]
}
group "masters" {}
task "install" {
  on = group.masters.hosts[0]
  run "r" {
    command = "apt-get install ${var.pkgs}"
  }
}
`)
	code, out, errs := dslCmd(t, dir, "validate", "plan.hcl")
	if code != exitUsage || !strings.Contains(errs, "Invalid template interpolation value") || !strings.Contains(errs, "group masters") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
