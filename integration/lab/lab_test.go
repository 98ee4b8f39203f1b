package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (CI runs as root)")
	}
}

// upLab brings a lab up for one test and tears it down (checking that
// nothing is left) when the test ends.
func upLab(t *testing.T, opts Options) *Lab {
	t.Helper()
	needRoot(t)
	opts.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // includes a cold rootfs build
	defer cancel()
	l, err := Up(ctx, opts)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertGone(t, l)
	})
	return l
}

// assertGone checks that a closed lab left nothing behind.
func assertGone(t *testing.T, l *Lab) {
	t.Helper()
	if linkExists(l.Bridge) {
		t.Errorf("bridge %s still exists", l.Bridge)
	}
	for _, h := range l.Hosts {
		if _, err := os.Stat("/run/netns/" + h.Netns); err == nil {
			t.Errorf("netns %s still exists", h.Netns)
		}
		if linkExists(h.Veth) {
			t.Errorf("veth %s still exists", h.Veth)
		}
		if h.Proc.Alive() {
			t.Errorf("host %s: process %d still alive", h.Name, h.Proc.PID)
		}
		for _, d := range h.Cgroups {
			if isDir(d) {
				t.Errorf("cgroup %s still exists", d)
			}
		}
		// Not by dialing: once the bridge is gone, the gateway's address
		// may route to something else that accepts.
		if h.Proxy != "" && listening(h.Proxy) {
			t.Errorf("host %s: link proxy %s still listens", h.Name, h.Proxy)
		}
	}
	if l.LinkProc.Alive() {
		t.Errorf("link helper %d still alive", l.LinkProc.PID)
	}
	if m := mountsUnder(l.Dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if _, err := os.Stat(l.Dir); err == nil {
		t.Errorf("lab dir %s still exists", l.Dir)
	}
	if _, err := os.Stat(claimPath(l.ID)); err == nil {
		t.Errorf("claim %s still exists", claimPath(l.ID))
	}
}

// dial logs in to h as user with the lab's key, checking the host key
// against the lab's known_hosts.
func dial(l *Lab, h *Host, user string) (*ssh.Client, error) {
	signer, err := l.Signer()
	if err != nil {
		return nil, err
	}
	hostKeys, err := knownhosts.New(l.KnownHosts)
	if err != nil {
		return nil, err
	}
	return ssh.Dial("tcp", h.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         5 * time.Second,
	})
}

// sshRun runs cmd on h as user and returns its trimmed stdout.
func sshRun(l *Lab, h *Host, user, cmd, stdin string) (string, error) {
	c, err := dial(l, h, user)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	s.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	s.Stderr = &stderr
	done := make(chan struct{})
	var out []byte
	go func() { out, err = s.Output(cmd); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("%q on %s timed out", cmd, h.Name)
	}
	if err != nil {
		return string(out), fmt.Errorf("%q on %s as %s: %w: %s", cmd, h.Name, user, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func mustRun(t *testing.T, l *Lab, h *Host, user, cmd, stdin string) string {
	t.Helper()
	out, err := sshRun(l, h, user, cmd, stdin)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkUsers proves the contract every lab host keeps: root, plan and nopw
// log in by key; plan's sudo takes the lab password; nopw's needs none.
func checkUsers(t *testing.T, l *Lab) {
	t.Helper()
	pw, err := l.Password()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts {
		for _, user := range []string{UserRoot, UserPlan, UserNopw} {
			if got := mustRun(t, l, h, user, "id -un", ""); got != user {
				t.Errorf("%s: id -un as %s = %q", h.Name, user, got)
			}
		}
		if got := mustRun(t, l, h, UserRoot, "hostname", ""); got != h.Name {
			t.Errorf("%s: hostname = %q", h.Name, got)
		}
		if got := mustRun(t, l, h, UserPlan, "sudo -S -p '' id -u", pw+"\n"); got != "0" {
			t.Errorf("%s: sudo with password as plan: id -u = %q", h.Name, got)
		}
		if _, err := sshRun(l, h, UserPlan, "sudo -n true", ""); err == nil {
			t.Errorf("%s: plan's sudo worked without a password", h.Name)
		}
		if _, err := sshRun(l, h, UserPlan, "sudo -S -p '' true", "wrong-password\n"); err == nil {
			t.Errorf("%s: plan's sudo took a wrong password", h.Name)
		}
		if got := mustRun(t, l, h, UserNopw, "sudo -n id -u", ""); got != "0" {
			t.Errorf("%s: passwordless sudo as nopw: id -u = %q", h.Name, got)
		}
	}
	// Hosts reach each other by name over the bridge.
	if len(l.Hosts) > 1 {
		mustRun(t, l, l.Hosts[0], UserRoot, "ping -c1 -W2 "+l.Hosts[1].Name+" >/dev/null", "")
	}
}

// checkSSHConfig proves the generated ssh_config and known_hosts work with
// OpenSSH's own client.
func checkSSHConfig(t *testing.T, l *Lab) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Log("no ssh client; skipping the ssh_config check")
		return
	}
	h := l.Hosts[len(l.Hosts)-1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", "-F", l.SSHConfig, "-o", "BatchMode=yes", h.Alias, "hostname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != h.Name {
		t.Errorf("ssh -F %s %s hostname: %v: %s", l.SSHConfig, h.Alias, err, out)
	}
}

func TestLightLab(t *testing.T) {
	l := upLab(t, Options{Hosts: 2})
	checkUsers(t, l)
	checkSSHConfig(t, l)
	checkFaultHooks(t, l)
}

// checkFaultHooks exercises KillSSHD/RestartSSHD, CutLink/RestoreLink and
// ChangeHostKey on the lab's first host.
func checkFaultHooks(t *testing.T, l *Lab) {
	t.Helper()
	h := l.Hosts[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// An open session dies with sshd, and nobody answers until a restart.
	c, err := dial(l, h, UserRoot)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.KillSSHD(h); err != nil {
		t.Fatalf("KillSSHD: %v", err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(10 * time.Second):
		t.Error("an SSH connection survived KillSSHD")
	}
	c.Close()
	if _, err := dial(l, h, UserRoot); err == nil {
		t.Error("sshd answered after KillSSHD")
	}
	if err := l.RestartSSHD(ctx, h); err != nil {
		t.Fatalf("RestartSSHD: %v", err)
	}
	mustRun(t, l, h, UserRoot, "true", "")

	// A cut link: connections time out rather than being refused.
	if err := l.CutLink(h); err != nil {
		t.Fatalf("CutLink: %v", err)
	}
	conn, err := net.DialTimeout("tcp", h.Addr(), 2*time.Second)
	if err == nil {
		conn.Close()
		t.Error("dial succeeded across a cut link")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Logf("dial across a cut link: %v (expected a timeout)", err)
	}
	if err := l.RestoreLink(h); err != nil {
		t.Fatalf("RestoreLink: %v", err)
	}
	if err := l.WaitSSH(ctx, h); err != nil {
		t.Fatal(err)
	}
	mustRun(t, l, h, UserRoot, "true", "")

	// A frozen host accepts TCP but never sends a banner.
	if err := l.Freeze(h); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	conn, err = net.DialTimeout("tcp", h.Addr(), 2*time.Second)
	if err != nil {
		t.Errorf("dial a frozen host: %v (want the kernel to accept)", err)
	} else {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := conn.Read(make([]byte, 64)); err == nil || n > 0 {
			t.Errorf("a frozen host sent %d bytes", n)
		}
		conn.Close()
	}
	if err := l.Thaw(h); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	mustRun(t, l, h, UserRoot, "true", "")

	// A changed host key fails against the old known_hosts, until trusted.
	if err := l.ChangeHostKey(ctx, h); err != nil {
		t.Fatalf("ChangeHostKey: %v", err)
	}
	_, err = dial(l, h, UserRoot)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		t.Errorf("dial after ChangeHostKey: got %v, want a knownhosts key mismatch", err)
	}
	if err := l.TrustHostKeys(); err != nil {
		t.Fatal(err)
	}
	mustRun(t, l, h, UserRoot, "true", "")
}
