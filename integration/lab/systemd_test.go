package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSystemdLab boots hosts with systemd-nspawn and checks every fix the
// Kubernetes proof relies on, and that the machine's own kernel settings
// stay untouched.
func TestSystemdLab(t *testing.T) {
	needRoot(t)
	// Settings of the machine's own kernel that the hosts write (shadowed).
	machineFiles := []string{
		"/proc/sys/kernel/panic", "/proc/sys/kernel/panic_on_oops",
		"/proc/sys/vm/overcommit_memory", "/proc/sys/vm/panic_on_oom",
		"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/netfilter/nf_conntrack_max",
		"/sys/module/nf_conntrack/parameters/hashsize",
	}
	machineBefore := map[string]string{}
	for _, f := range machineFiles {
		machineBefore[f] = readOptional(f)
	}

	l := upLab(t, Options{Hosts: 2, Systemd: true})
	checkUsers(t, l)
	checkSSHConfig(t, l)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, h := range l.Hosts {
		// systemd is PID 1 and reaches a settled state.
		if got := mustRun(t, l, h, UserRoot, "cat /proc/1/comm", ""); got != "systemd" {
			t.Errorf("%s: PID 1 is %q", h.Name, got)
		}
		state := waitSystemState(ctx, t, l, h)
		if state != "running" && state != "degraded" {
			t.Errorf("%s: systemctl is-system-running = %q", h.Name, state)
		}
		if state == "degraded" {
			out, _ := sshRun(l, h, UserRoot, "systemctl --failed --no-legend", "")
			t.Logf("%s: failed units: %s", h.Name, out)
		}
		if got := mustRun(t, l, h, UserRoot, "systemctl is-active lab-host-prep.service ssh.service", ""); got != "active\nactive" {
			t.Errorf("%s: lab-host-prep/ssh: %q", h.Name, got)
		}
		// The fixes from lab-notes.md.
		script := strings.Join([]string{
			"set -ex",
			"test -c /dev/kmsg",
			"mkdir /sys/fs/cgroup/memory/plan-lab-test && rmdir /sys/fs/cgroup/memory/plan-lab-test",
			"mkdir /sys/fs/cgroup/cpu/plan-lab-test && rmdir /sys/fs/cgroup/cpu/plan-lab-test",
			"echo 1 > /proc/sys/net/ipv4/ip_forward",
			"echo 0 > /proc/sys/kernel/panic && test \"$(cat /proc/sys/kernel/panic)\" = 0",
			"echo 2 > /proc/sys/vm/overcommit_memory",
			"if [ -e /proc/sys/net/netfilter/nf_conntrack_max ]; then echo 131072 > /proc/sys/net/netfilter/nf_conntrack_max; fi",
			"if [ -e /sys/module/nf_conntrack/parameters/hashsize ]; then echo 4096 > /sys/module/nf_conntrack/parameters/hashsize; fi",
			"ip route show 10.96.0.0/12 | grep -q eth0",
			"mountpoint -q /var/lib/containerd",
			"test \"$(stat -f -c %T /var/lib/containerd)\" != overlayfs",
			"grep -qw " + h.Name + " /etc/hosts",
			"echo ok",
		}, "\n")
		if got := mustRun(t, l, h, UserRoot, "sh -s", script); got != "ok" {
			t.Errorf("%s: lab fixes: %q", h.Name, got)
		}
	}
	// Each host lives in its own cgroup: a service on h1 is not visible on h2.
	mustRun(t, l, l.Hosts[0], UserRoot, "systemd-run --unit=plan-lab-probe sleep 600", "")
	if out, _ := sshRun(l, l.Hosts[1], UserRoot, "systemctl is-active plan-lab-probe.service", ""); out == "active" {
		t.Error("a unit started on h1 is active on h2: hosts share a cgroup")
	}
	// The machine's own settings did not change.
	for _, f := range machineFiles {
		if got := readOptional(f); got != machineBefore[f] {
			t.Errorf("machine's %s changed from %q to %q", f, machineBefore[f], got)
		}
	}
	checkFaultHooks(t, l)
}

// readOptional reads a /proc or /sys value ("" when it does not exist).
func readOptional(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// waitSystemState waits (bounded by ctx) until systemd has finished booting.
func waitSystemState(ctx context.Context, t *testing.T, l *Lab, h *Host) string {
	t.Helper()
	for {
		state, _ := sshRun(l, h, UserRoot, "systemctl is-system-running", "")
		if state != "starting" && state != "initializing" && state != "" {
			return state
		}
		select {
		case <-ctx.Done():
			return state
		case <-time.After(200 * time.Millisecond):
		}
	}
}
