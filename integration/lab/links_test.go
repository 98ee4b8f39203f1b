package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/plan-dev/plan/integration/lab/linkem"
)

// TestMain doubles as the link helper of TestPersistentLinksHelper: with
// PLAN_LAB_TEST_LINK_HELPER=1 the test binary serves the lab's proxies, as
// `plan lab serve-links DIR` does.
func TestMain(m *testing.M) {
	if os.Getenv("PLAN_LAB_TEST_LINK_HELPER") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := ServeLinks(ctx, os.Args[len(os.Args)-1])
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "link helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestShapedLinks: a lab with 15 ms each way (30 ms RTT) in front of its
// hosts. The ssh_config points at the proxies, OpenSSH logs in through them
// with the host's own key (HostKeyAlias), and the round trips a client sees
// are really there: connect + banner ≥ the handshake's RTT + one latency,
// every echo through an SSH session ≥ one RTT.
func TestShapedLinks(t *testing.T) {
	shape := linkem.Shape{Latency: 15 * time.Millisecond}
	l := upLab(t, Options{Hosts: 2, Link: shape})
	rtt := shape.RTT()

	cfg, err := os.ReadFile(l.SSHConfig)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range l.Hosts {
		want := fmt.Sprintf("Host %s\n  HostName %s\n  Port %d\n  HostKeyAlias %s\n", h.Alias, l.Gateway, linkPortBase+i+1, h.Alias)
		if !strings.Contains(string(cfg), want) {
			t.Errorf("ssh_config lacks\n%s\ngot:\n%s", want, cfg)
		}
	}

	h := l.Hosts[0]
	start := time.Now()
	c, err := net.Dial("tcp", h.DialAddr())
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	banner := time.Since(start)
	c.Close()
	if err != nil || !strings.HasPrefix(line, "SSH-") {
		t.Fatalf("no banner through %s: %q %v", h.DialAddr(), line, err)
	}
	if banner < rtt+shape.Latency {
		t.Errorf("connect + banner through the proxy took %s, want ≥ %s", banner, rtt+shape.Latency)
	}

	// OpenSSH through the same ssh_config: the host key is checked under
	// the alias (StrictHostKeyChecking yes), not the proxy's address.
	out, err := exec.Command("ssh", "-F", l.SSHConfig, "-o", "BatchMode=yes", h.Alias, "hostname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != h.Name {
		t.Fatalf("ssh -F %s %s hostname: %v: %s", l.SSHConfig, h.Alias, err, out)
	}

	// Round trips inside one SSH session (a shell's cat echoing lines).
	signer, err := l.Signer()
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.HostPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", h.DialAddr(), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(key), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	stdin, _ := sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	if err := sess.Start("cat"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	for i := 0; i < 3; i++ {
		start := time.Now()
		fmt.Fprintf(stdin, "line %d\n", i)
		got, err := r.ReadString('\n')
		d := time.Since(start)
		if err != nil || got != fmt.Sprintf("line %d\n", i) {
			t.Fatalf("echo %d: %q %v", i, got, err)
		}
		if d < rtt {
			t.Errorf("echo %d over SSH took %s, want ≥ the RTT %s", i, d, rtt)
		}
	}
	_ = stdin.Close()
	_, _ = io.Copy(io.Discard, stdout)

	st, ok := l.LinkStats(h)
	if !ok || st.Conns < 3 {
		t.Errorf("link stats of %s: %+v (%v), want ≥ 3 connections (banner, ssh, x/crypto)", h.Name, st, ok)
	}
	// Close (the test's cleanup) must stop every proxy: assertGone checks.
}

// TestPersistentLinksHelper: a persistent lab serves its proxies from a
// helper process of its own (here the test binary, as `plan lab
// serve-links`), recorded by PID; Close kills it and frees the ports.
func TestPersistentLinksHelper(t *testing.T) {
	needRoot(t)
	if _, err := Up(context.Background(), Options{Persistent: true, Link: linkem.Shape{Latency: 5 * time.Millisecond}}); err == nil ||
		!strings.Contains(err.Error(), "LinkHelper") {
		t.Fatalf("a persistent shaped lab without a helper: %v, want an error naming LinkHelper", err)
	}
	l := upLab(t, Options{Hosts: 1, Persistent: true, Link: linkem.Shape{Latency: 5 * time.Millisecond, Bandwidth: 125e6},
		LinkHelper: []string{"/usr/bin/env", "PLAN_LAB_TEST_LINK_HELPER=1", os.Args[0]}})
	if !l.LinkProc.Alive() || l.LinkProc.PID == os.Getpid() {
		t.Fatalf("link helper %+v: want a live process of its own", l.LinkProc)
	}
	saved, err := Load(l.Dir)
	if err != nil || saved.LinkProc != l.LinkProc || saved.Link != l.Link {
		t.Fatalf("state.json: link %+v helper %+v (%v), want %+v %+v", saved.Link, saved.LinkProc, err, l.Link, l.LinkProc)
	}
	h := l.Hosts[0]
	out, err := exec.Command("ssh", "-F", l.SSHConfig, "-o", "BatchMode=yes", h.Alias, "hostname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != h.Name {
		t.Fatalf("ssh through the helper's proxy: %v: %s", err, out)
	}
	// As `plan lab down` does, from the saved state in another Lab value.
	if err := saved.Close(); err != nil {
		t.Fatal(err)
	}
	if l.LinkProc.Alive() {
		t.Errorf("link helper %d alive after Close", l.LinkProc.PID)
	}
}

// listening reports whether a socket of this machine listens on addr
// (IPv4 host:port), from /proc/net/tcp.
func listening(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host).To4()
	var p int
	fmt.Sscan(port, &p)
	// /proc/net/tcp writes the address as the 32-bit word in host order.
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], p)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

func TestListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if !listening(addr) {
		t.Fatalf("listening(%s) = false while it listens", addr)
	}
	ln.Close()
	if listening(addr) {
		t.Fatalf("listening(%s) = true after Close", addr)
	}
}
