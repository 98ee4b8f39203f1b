package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/integration/lab"
)

func TestPlanHostsResolvesThroughSSHConfig(t *testing.T) {
	dir := t.TempDir()
	planFile := filepath.Join(dir, "p.hcl")
	os.WriteFile(planFile, []byte(`
host "cp1" {
  address = "192.0.2.11"
  user    = "admin"
}
group "masters" { hosts = [host.cp1] }
group "workers" {}
task "t" {
  on = group.workers.hosts
  run "x" { command = "true" }
}
`), 0o644)
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte(`
Host bastion
  HostName 192.0.2.1
  User hop
Host w*
  HostName %h.lab.test
  User deploy
  Port 2200
  IdentityFile `+dir+`/wkey
  ProxyJump bastion
`), 0o600)

	var out, errb bytes.Buffer
	code := dispatch([]string{"hosts", planFile, "-H", "workers=w1,root@w2:22", "--ssh-config", cfg, "-o", "json"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []hostRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(rows) != 3 {
		t.Fatalf("want 3 hosts, got %+v", rows)
	}
	byName := map[string]hostRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	cp1, w1, w2 := byName["cp1"], byName["w1"], byName["w2"]
	if cp1.Address != "192.0.2.11" || cp1.User != "admin" || cp1.Port != 22 || len(cp1.Groups) != 1 || cp1.Groups[0] != "masters" {
		t.Errorf("cp1: %+v", cp1)
	}
	if w1.Address != "w1.lab.test" || w1.User != "deploy" || w1.Port != 2200 || w1.ProxyJump != "bastion" ||
		len(w1.IdentityFiles) != 1 || w1.IdentityFiles[0] != dir+"/wkey" {
		t.Errorf("w1: %+v", w1)
	}
	if !strings.Contains(w1.SSH, "-J hop@192.0.2.1") || !strings.Contains(w1.SSH, "deploy@w1.lab.test") {
		t.Errorf("w1 ssh command: %s", w1.SSH)
	}
	if w2.User != "root" || w2.Port != 22 {
		t.Errorf("w2: explicit user/port must beat ssh_config: %+v", w2)
	}

	out.Reset()
	if code := dispatch([]string{"hosts", planFile, "-H", "workers=w1", "-F", cfg}, &out, &errb); code != exitOK {
		t.Fatalf("text: exit %d", code)
	}
	if !strings.Contains(out.String(), "deploy@w1.lab.test:2200") || !strings.Contains(out.String(), "bastion") {
		t.Errorf("text output:\n%s", out.String())
	}
	if code := dispatch([]string{"hosts", planFile, "-o", "yaml"}, &out, &errb); code != exitUsage {
		t.Errorf("bad --output: exit %d", code)
	}
}

// TestPlanHostsCheckAgainstLab resolves lab hosts through the lab's
// ssh_config and connects: root and nopw pass the sudo probe, plan's sudo
// needs a password that is not given, an unknown alias fails.
func TestPlanHostsCheckAgainstLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (CI runs as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Hosts: 1, Name: "plan-hosts-check"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	t.Setenv(hosts.EnvSudoPassword, "")
	h := l.Hosts[0]
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	var b strings.Builder
	for _, u := range []string{"root", "nopw", "plan", "bad"} {
		kh, user := l.KnownHosts, u
		if u == "bad" {
			kh, user = filepath.Join(dir, "empty_known_hosts"), "root"
		}
		fmt.Fprintf(&b, "Host lab-%s\n  HostName %s\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n\n",
			u, h.Address, user, l.ClientKey, kh)
	}
	os.WriteFile(cfg, []byte(b.String()), 0o600)
	planFile := filepath.Join(dir, "p.hcl")
	os.WriteFile(planFile, []byte("group \"all\" {}\n"), 0o644)
	var out, errb bytes.Buffer
	code := dispatch([]string{"hosts", planFile, "-F", cfg, "--check", "-H", "all=lab-root,lab-nopw,lab-plan,lab-bad"}, &out, &errb)
	t.Logf("plan hosts output:\n%s%s", out.String(), errb.String())
	if code != exitFailed {
		t.Fatalf("exit %d, want %d (lab-bad cannot be reached)", code, exitFailed)
	}
	for _, want := range []string{"lab-root: ok (sudo ok)", "lab-nopw: ok (sudo ok)", "lab-plan: ok (sudo: ", hosts.EnvSudoPassword, "lab-bad: FAILED: ", "host key unknown"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
