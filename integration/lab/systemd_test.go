package lab

import (
	"bufio"
	"context"
	"net"
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

// TestPowerOffOn powers a systemd host off and on again: while off it is silent (dials time
// out, open connections get neither data nor a reset) and has no process left; it boots again
// from the disk it had, with an empty /run, and its enabled units start.
func TestPowerOffOn(t *testing.T) {
	l := upLab(t, Options{Hosts: 1, Systemd: true})
	h := l.Hosts[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mustRun(t, l, h, UserRoot, "sh -s", "set -e\necho disk > /var/tmp/mark\necho run > /run/mark\n"+
		"printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/lab-probe.service\n"+
		"systemctl enable --now lab-probe.service")
	oldPID := h.Proc.PID
	open, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := bufio.NewReader(open).ReadString('\n'); err != nil { // the banner
		t.Fatal(err)
	}

	t0 := time.Now()
	if err := l.PowerOff(h); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	t.Logf("powered off in %s", time.Since(t0).Round(time.Millisecond))
	if h.Proc.Alive() {
		t.Errorf("the host's process %d is alive after PowerOff", h.Proc.PID)
	}
	if pids := netnsPIDs(h.Netns); len(pids) > 0 {
		t.Errorf("processes left in the host's namespace: %v", pids)
	}
	if _, err := l.Exec(ctx, h, "true"); err == nil {
		t.Error("Exec works on a powered-off host")
	}
	if c, err := net.DialTimeout("tcp", h.Addr(), 2*time.Second); err == nil {
		c.Close()
		t.Error("a powered-off host accepted a connection")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("dial a powered-off host: %v, want a timeout (a dead machine sends no reset)", err)
	}
	_ = open.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := open.Read(make([]byte, 64)); n > 0 || err == nil || !os.IsTimeout(err) {
		t.Errorf("an open connection to a powered-off host: %d bytes, %v; want nothing until the deadline", n, err)
	}

	t0 = time.Now()
	if err := l.PowerOn(ctx, h); err != nil {
		t.Fatalf("PowerOn: %v", err)
	}
	t.Logf("powered on, sshd answering in %s", time.Since(t0).Round(time.Millisecond))
	if h.Proc.PID == oldPID {
		t.Errorf("PowerOn kept process %d", oldPID)
	}
	if state := waitSystemState(ctx, t, l, h); state != "running" && state != "degraded" {
		t.Errorf("after PowerOn: systemctl is-system-running = %q", state)
	}
	t.Logf("booted, systemd settled, in %s", time.Since(t0).Round(time.Millisecond))
	got := mustRun(t, l, h, UserRoot, "cat /var/tmp/mark; test -e /run/mark && echo run-kept; systemctl is-active lab-probe.service", "")
	if got != "disk\nactive" {
		t.Errorf("after PowerOn: %q, want the disk file, no /run file and the enabled unit active", got)
	}
	if out, err := l.Exec(ctx, h, "echo ok"); err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("Exec after PowerOn: %q %v", out, err)
	}
	if err := l.PowerOn(ctx, h); err == nil {
		t.Error("PowerOn of a running host did not fail")
	}
}
