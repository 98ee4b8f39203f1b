package conformance

// Fault tests against real OpenSSH sshd lab hosts: jump host, sshd killed
// mid-command, cut link with keepalives, unknown and changed host keys,
// wrong sudo password.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/inventory"
	"github.com/plan-dev/plan/integration/lab"
)

func labCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func dialLab(t *testing.T, d *hosts.Dialer, ep *hosts.Endpoint) hosts.Transport {
	t.Helper()
	tr, err := d.Dial(labCtx(t), ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// waitRun waits (bounded) for a Run started in the background.
func waitRun(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: Run still blocked after 60s", what)
		return nil
	}
}

func TestLabProxyJump(t *testing.T) {
	l := needLab(t)
	h1, h2 := l.Hosts[0], l.Hosts[1]
	cfg := filepath.Join(t.TempDir(), "config")
	text := fmt.Sprintf("Include %s\n\nHost jumped\n  HostName %s\n  User nopw\n  ProxyJump %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n",
		l.SSHConfig, h2.Address, h1.Alias, l.ClientKey, l.KnownHosts)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	eps, err := (&inventory.Resolver{ConfigFile: cfg}).Resolve(labCtx(t), []inventory.Spec{{Name: "jumped"}})
	if err != nil {
		t.Fatal(err)
	}
	ep := eps[0]
	if ep.Jump == nil || ep.Jump.HostName != h1.Address || ep.Jump.User != "root" {
		t.Fatalf("jump not resolved: %+v", ep.Jump)
	}
	tr := dialLab(t, labDialer(t, l), ep)
	var out bytes.Buffer
	if err := tr.Run(labCtx(t), &hosts.Command{Cmd: `hostname; echo "${SSH_CLIENT%% *}"`, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	// The session is on h2 and its TCP peer is h1, not the bridge.
	if got := strings.Fields(out.String()); len(got) != 2 || got[0] != h2.Name || got[1] != h1.Address {
		t.Fatalf("want [%s %s], got %q", h2.Name, h1.Address, out.String())
	}
	if _, err := tr.Fetch(labCtx(t), &hosts.Download{Path: "/etc/hostname"}); err != nil {
		t.Fatalf("sftp through the jump host: %v", err)
	}
}

// ProxyJump with two hops through real sshd: h1 -> h2 -> h1. Dialing the
// second hop goes through the first, which once deadlocked on the lock
// the dial of the second held.
func TestLabTwoHopProxyJump(t *testing.T) {
	l := needLab(t)
	h1, h2 := l.Hosts[0], l.Hosts[1]
	cfg := filepath.Join(t.TempDir(), "config")
	text := fmt.Sprintf("Include %s\n\nHost twohops\n  HostName %s\n  User nopw\n  ProxyJump %s,%s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n",
		l.SSHConfig, h1.Address, h1.Alias, h2.Alias, l.ClientKey, l.KnownHosts)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	eps, err := (&inventory.Resolver{ConfigFile: cfg}).Resolve(labCtx(t), []inventory.Spec{{Name: "twohops"}})
	if err != nil {
		t.Fatal(err)
	}
	ep := eps[0]
	if ep.Jump == nil || ep.Jump.HostName != h2.Address || ep.Jump.Jump == nil || ep.Jump.Jump.HostName != h1.Address {
		t.Fatalf("two hops not resolved: %+v", ep.Jump)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		tr, err := labDialer(t, l).Dial(ctx, ep)
		if err == nil {
			err = tr.Run(ctx, &hosts.Command{Cmd: `hostname; echo "${SSH_CLIENT%% *}"`, Stdout: &out})
			tr.Close()
		}
		done <- err
	}()
	if err := waitRun(t, done, "dial and run through two hops"); err != nil {
		t.Fatal(err)
	}
	// The session is on h1 and its TCP peer is the last hop, h2.
	if got := strings.Fields(out.String()); len(got) != 2 || got[0] != h1.Name || got[1] != h2.Address {
		t.Fatalf("want [%s %s], got %q", h1.Name, h2.Address, out.String())
	}
}

func TestLabSSHDKilledMidCommand(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[1]
	tr := dialLab(t, labDialer(t, l), labEndpoint(t, l, h, lab.UserRoot))
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(labCtx(t), &hosts.Command{Cmd: "echo go; sleep 60", Stdout: writerFunc(func() { closeOnce(started) })})
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("command did not start")
	}
	if err := l.KillSSHD(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.RestartSSHD(context.Background(), h) })
	if err := waitRun(t, done, "sshd killed"); !errors.Is(err, hosts.ErrConnLost) {
		t.Fatalf("want ErrConnLost, got %v", err)
	}
	if err := l.RestartSSHD(labCtx(t), h); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tr.Run(labCtx(t), &hosts.Command{Cmd: "echo back", Stdout: &out}); err != nil || out.String() != "back\n" {
		t.Fatalf("after restart the transport must re-dial: %q %v", out.String(), err)
	}
}

func TestLabCutLinkDetectedByKeepalive(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[1]
	ep := labEndpoint(t, l, h, lab.UserRoot)
	ep.ServerAliveInterval, ep.ServerAliveCountMax = time.Second, 2
	tr := dialLab(t, labDialer(t, l), ep)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(labCtx(t), &hosts.Command{Cmd: "echo go; sleep 60", Stdout: writerFunc(func() { closeOnce(started) })})
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("command did not start")
	}
	if err := l.CutLink(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.RestoreLink(h) })
	if err := waitRun(t, done, "link cut"); !errors.Is(err, hosts.ErrConnLost) {
		t.Fatalf("want ErrConnLost, got %v", err)
	}
	if err := l.RestoreLink(h); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tr.Run(labCtx(t), &hosts.Command{Cmd: "echo back", Stdout: &out}); err != nil || out.String() != "back\n" {
		t.Fatalf("after the link is back the transport must re-dial: %q %v", out.String(), err)
	}
}

func TestLabHostKeys(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[1]
	ep := labEndpoint(t, l, h, lab.UserRoot)

	// Unknown: an empty known_hosts refuses, accept-new records.
	unknown := *ep
	unknown.UserKnownHostsFiles = []string{filepath.Join(t.TempDir(), "known_hosts")}
	unknown.GlobalKnownHostsFiles = nil
	if _, err := labDialer(t, l).Dial(labCtx(t), &unknown); !errors.Is(err, hosts.ErrHostKeyUnknown) || !strings.Contains(err.Error(), "SHA256:") {
		t.Fatalf("want ErrHostKeyUnknown with a fingerprint, got %v", err)
	}
	d := hosts.NewDialer(hosts.Options{AcceptNewHostKeys: true})
	dialLab(t, d, &unknown)
	if b, _ := os.ReadFile(unknown.UserKnownHostsFiles[0]); !strings.Contains(string(b), h.Address) {
		t.Fatalf("accepted key not recorded: %q", b)
	}

	// Changed: refused even with accept-new; trusting the new key fixes it.
	if err := l.ChangeHostKey(labCtx(t), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.TrustHostKeys() })
	for _, e := range []*hosts.Endpoint{ep, &unknown} {
		_, err := d.Dial(labCtx(t), e)
		if !errors.Is(err, hosts.ErrHostKeyChanged) {
			t.Fatalf("want ErrHostKeyChanged, got %v", err)
		}
	}
	if err := l.TrustHostKeys(); err != nil {
		t.Fatal(err)
	}
	dialLab(t, labDialer(t, l), ep)
}

func TestLabWrongSudoPassword(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[0]
	d := hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=not-the-password"}})
	tr := dialLab(t, d, labEndpoint(t, l, h, lab.UserPlan))
	pw, err := l.Password()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	// The caller's stdin starts with the right password: it must never be
	// read by sudo as a second attempt.
	err = tr.Run(labCtx(t), &hosts.Command{Cmd: "cat", Sudo: true, Stdin: strings.NewReader(pw + "\nrest"), Stdout: &out, Stderr: &errb})
	if !errors.Is(err, hosts.ErrSudoPassword) {
		t.Fatalf("want ErrSudoPassword, got %v (stderr %q)", err, errb.String())
	}
	if out.Len() != 0 {
		t.Fatalf("the command ran: %q", out.String())
	}
	if strings.Contains(err.Error()+errb.String(), "not-the-password") {
		t.Fatal("the sudo password leaked into the error or stderr")
	}
}

type writerFunc func()

func (f writerFunc) Write(p []byte) (int, error) { f(); return len(p), nil }

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func TestLabLinkCutMidPush(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[1]
	ep := labEndpoint(t, l, h, lab.UserRoot)
	ep.ServerAliveInterval, ep.ServerAliveCountMax = time.Second, 2
	tr := dialLab(t, labDialer(t, l), ep)
	dest := fmt.Sprintf("/root/cut-%d", time.Now().UnixNano())
	t.Cleanup(func() { l.Exec(context.Background(), h, "rm -f "+dest+" /root/.cut-*.plan-*") })
	if _, err := tr.Push(labCtx(t), &hosts.Upload{Path: dest, Content: []byte("old\n")}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64<<20)
	cut := make(chan struct{})
	t.Cleanup(func() { l.RestoreLink(h) })
	done := make(chan error, 1)
	go func() {
		_, err := tr.Push(labCtx(t), &hosts.Upload{Path: dest, Content: data, Progress: func(sent, total int64) {
			if sent > total/4 {
				select {
				case <-cut:
				default:
					close(cut)
					l.CutLink(h)
				}
			}
		}})
		done <- err
	}()
	if err := waitRun(t, done, "push with the link cut"); err == nil {
		select {
		case <-cut:
			t.Fatal("push reported success although the link was cut mid-way")
		default:
			t.Fatal("the link was never cut")
		}
	}
	if err := l.RestoreLink(h); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Fetch(labCtx(t), &hosts.Download{Path: dest})
	if err != nil || string(got) != "old\n" {
		t.Fatalf("destination after the cut: %d bytes, %v (want the old file)", len(got), err)
	}
}

// The "reproduce by hand" line must work when pasted into a shell, also
// for a host behind a jump host that needs its own key.
func TestLabSSHCommandReproduces(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client")
	}
	l := needLab(t)
	h1, h2 := l.Hosts[0], l.Hosts[1]
	direct := labEndpoint(t, l, h1, lab.UserNopw)
	jumped := labEndpoint(t, l, h2, lab.UserNopw)
	jumped.Jump = labEndpoint(t, l, h1, lab.UserRoot)
	jumped.ProxyJump = h1.Alias
	for _, c := range []struct {
		ep   *hosts.Endpoint
		want string
	}{{direct, h1.Name}, {jumped, h2.Name}} {
		line := c.ep.SSHCommand("hostname")
		// BatchMode: never prompt; -F /dev/null: only what the line says.
		line = strings.Replace(line, "ssh ", "ssh -F /dev/null -o BatchMode=yes ", 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "/bin/sh", "-c", line).CombinedOutput()
		cancel()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Fatalf("%s\n=> %q %v", line, out, err)
		}
	}
}
