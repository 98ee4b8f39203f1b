package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLabUpLinkFlags: a link the emulator cannot make is a usage error,
// with the reason, before anything is made (no root needed).
func TestLabUpLinkFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "1", "--latency", "1500us"}, "whole milliseconds"},
		{[]string{"up", "1", "--latency", "10ms", "--jitter", "10ms"}, "jitter 10ms must be less than the latency"},
		{[]string{"up", "1", "--jitter", "2ms"}, "must be less than the latency"},
		{[]string{"up", "1", "--bandwidth", "10parsecs"}, `unknown unit "parsecs"`},
		{[]string{"up", "1", "--bandwidth", "mbit"}, "want a number and a unit"},
		{[]string{"serve-links"}, "want the lab's directory"},
	} {
		var out, errb bytes.Buffer
		if code := runLab(c.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("plan lab %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, errb.String(), exitUsage, c.want)
		}
	}
	var out bytes.Buffer
	runLab([]string{"--help"}, &out, &out)
	for _, flag := range []string{"--latency D", "--jitter D", "--bandwidth RATE"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("plan lab --help lacks %s:\n%s", flag, out.String())
		}
	}
}

// TestLabUpShapedLinksCommand drives the built binary as a user does:
// `plan lab up --latency` returns with the proxies served by a helper
// process of its own, ssh goes through them, and `plan lab down` kills the
// helper. (In-process dispatch cannot do it: the helper is os.Executable.)
func TestLabUpShapedLinksCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("plan lab needs root (CI runs as root)")
	}
	bin := filepath.Join(t.TempDir(), "plan")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	name := fmt.Sprintf("linktest%d", os.Getpid())
	plan := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("plan %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := plan("lab", "up", "1", "--name", name, "--latency", "10ms", "--bandwidth", "100mbit")
	downed := false
	t.Cleanup(func() {
		if !downed {
			exec.Command(bin, "lab", "down", "--name", name).Run()
		}
	})
	m := regexp.MustCompile(`served by process (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("lab up does not name the links' process:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("links' process %d is not running after lab up returned: %v", pid, err)
	}
	if st := plan("lab", "status"); !strings.Contains(st, "latency 10ms each way (RTT 20ms), bandwidth 100mbit; proxies' process "+m[1]+" running") {
		t.Errorf("lab status does not show the links:\n%s", st)
	}
	cfg := strings.TrimSpace(regexp.MustCompile(`ssh -F (\S+) `).FindStringSubmatch(out)[1])
	host := strings.TrimSpace(plan("lab", "hosts", "--name", name))
	start := time.Now()
	if got, err := exec.Command("ssh", "-F", cfg, "-o", "BatchMode=yes", host, "echo ok").CombinedOutput(); err != nil || strings.TrimSpace(string(got)) != "ok" {
		t.Fatalf("ssh through the proxy: %v: %s", err, got)
	}
	// At least the TCP handshake, the key exchange and the login cross the
	// link: several RTTs of 20 ms.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("ssh through a 20 ms link took %s: the link is not there", d)
	}
	plan("lab", "down", "--name", name)
	downed = true
	// Checked at once: down waits for the helper to die (it would also
	// exit by itself, but only within 2 s of the lab's state being gone).
	// A zombie is dead, waiting for its new parent to reap it.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
		t.Errorf("links' process %d still runs after lab down: %s", pid, b)
	}
}
