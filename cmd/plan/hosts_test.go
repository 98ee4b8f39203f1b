package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
