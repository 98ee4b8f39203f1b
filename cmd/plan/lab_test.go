package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLabCommand drives `plan lab` the way a user does: up, status, hosts,
// ssh-config (then OpenSSH with it), down.
func TestLabCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("plan lab needs root (CI runs as root)")
	}
	name := fmt.Sprintf("clitest%d", os.Getpid())
	plan := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := dispatch(args, &out, &errb)
		if code != 0 {
			t.Logf("plan %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String(), code
	}
	if out, code := plan("lab", "up", "2", "--name", name); code != 0 {
		t.Fatalf("lab up: %d %s", code, out)
	}
	t.Cleanup(func() {
		if _, code := plan("lab", "down", "--name", name); code != 0 {
			t.Errorf("lab down failed")
		}
		if _, code := plan("lab", "hosts", "--name", name); code == 0 {
			t.Errorf("the lab is still listed after down")
		}
	})
	if _, code := plan("lab", "up", "1", "--name", name); code != exitFailed {
		t.Errorf("a second lab with the same name: exit %d, want %d", code, exitFailed)
	}
	status, _ := plan("lab", "status")
	if !strings.Contains(status, name) || strings.Count(status, "ssh up") < 2 {
		t.Errorf("status does not show the lab with 2 answering hosts:\n%s", status)
	}
	hostsOut, code := plan("lab", "hosts", "--name", name)
	hosts := strings.Fields(hostsOut)
	if code != 0 || len(hosts) != 2 {
		t.Fatalf("lab hosts: %q", hostsOut)
	}
	cfgOut, code := plan("lab", "ssh-config", "--name", name)
	if code != 0 || !strings.Contains(cfgOut, "Host "+hosts[1]) {
		t.Fatalf("ssh-config: %s", cfgOut)
	}
	var cfgPath string
	for _, line := range strings.Split(cfgOut, "\n") {
		if p, ok := strings.CutPrefix(line, "# ssh_config:"); ok {
			cfgPath = strings.TrimSpace(p)
		}
	}
	if _, err := exec.LookPath("ssh"); err == nil {
		out, err := exec.Command("ssh", "-F", cfgPath, "-o", "BatchMode=yes", hosts[1], "hostname").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "h2" {
			t.Errorf("ssh -F %s %s hostname: %v %s", cfgPath, hosts[1], err, out)
		}
	}
	if _, code := plan("lab", "up", "x"); code != exitUsage {
		t.Errorf("lab up x: exit %d, want %d", code, exitUsage)
	}
	if _, code := plan("lab", "nope"); code != exitUsage {
		t.Errorf("lab nope: exit %d, want %d", code, exitUsage)
	}
}
