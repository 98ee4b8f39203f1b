package inventory

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
)

func TestParseHostArg(t *testing.T) {
	cases := map[string]Spec{
		"cp1":                {Name: "cp1"},
		"bob@cp1:2222":       {Name: "cp1", User: "bob", Port: 2222},
		"[::1]:22":           {Name: "::1", Port: 22},
		"vagrant:k8s-master": {Name: "vagrant:k8s-master"},
		"u@vagrant:m1":       {Name: "vagrant:m1", User: "u"},
		"10.0.0.1":           {Name: "10.0.0.1"},
	}
	for in, want := range cases {
		got, err := ParseHostArg(in)
		if err != nil || got != want {
			t.Errorf("ParseHostArg(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	// One grammar with -H (internal/hostarg): a second @, a leading -, shell
	// metacharacters and an empty vagrant: name are refused.
	for _, bad := range []string{"", "@h", "h:0", "h:x", "u@:22", "a@b@host", "-oProxyCommand=x", "-u@h", "h;id", "u$(id)@h", "vagrant:"} {
		if _, err := ParseHostArg(bad); err == nil {
			t.Errorf("ParseHostArg(%q) should fail", bad)
		}
	}
}

const testConfig = `
# comment
Include DIR/conf.d/*.conf
Host jump1
  HostName 10.77.0.1
  User hopper
  Port 2201

Host jump2
  HostName 10.77.0.2
  ProxyJump jump1

Host web* !web-old
  HostName %h.example.test
  User deploy
  IdentityFile DIR/keys/%h
  IdentityFile DIR/second
  IdentitiesOnly yes
  ProxyJump jump1,jump2
  ConnectTimeout 7
  ServerAliveInterval 15
  StrictHostKeyChecking accept-new
  UserKnownHostsFile DIR/kh1 DIR/kh2

Match originalhost matched user root
  User matcheduser

Host matched
  HostName 10.77.0.9
  Port 2299

Match host 10.77.0.9 exec "test %h = 10.77.0.9"
  ServerAliveInterval 42
Match !host 10.77.0.9 exec false
  ConnectTimeout 99


Host *
  User fallback
  Port 2022
`

func writeTestConfig(t *testing.T) (dir, file string) {
	dir = t.TempDir()
	file = filepath.Join(dir, "config")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(testConfig, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o700)
	inc := "Host included\n  HostName 10.77.0.5\n  StrictHostKeyChecking no\n"
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "x.conf"), []byte(inc), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// resolvers returns the parser-backed resolver and, when an OpenSSH client
// exists, the `ssh -G` one: both must agree on every case.
func resolvers(t *testing.T, dir, file string) map[string]*Resolver {
	m := map[string]*Resolver{"parser": {ConfigFile: file, Home: dir, SSHPath: NoSSHClient}}
	if _, err := exec.LookPath("ssh"); err == nil {
		m["ssh -G"] = &Resolver{ConfigFile: file, Home: dir}
	}
	return m
}

func TestResolveConfig(t *testing.T) {
	dir, file := writeTestConfig(t)
	for name, r := range resolvers(t, dir, file) {
		t.Run(name, func(t *testing.T) {
			eps, err := r.Resolve(context.Background(), []Spec{
				{Name: "web1"}, {Name: "matched", User: "root"}, {Name: "included", Port: 2333},
				{Name: "plain", Address: "192.0.2.7", User: "u"}, {Name: "web-old"},
			})
			if err != nil {
				t.Fatal(err)
			}
			w := eps[0]
			if w.HostName != "web1.example.test" || w.User != "deploy" || w.Port != 2022 {
				t.Errorf("web1: %s@%s:%d", w.User, w.HostName, w.Port)
			}
			wantIDs := []string{filepath.Join(dir, "keys/web1.example.test"), filepath.Join(dir, "second")}
			if !reflect.DeepEqual(w.IdentityFiles, wantIDs) || !w.IdentitiesOnly {
				t.Errorf("web1 identities %v only=%v", w.IdentityFiles, w.IdentitiesOnly)
			}
			if w.ConnectTimeout != 7*time.Second || w.ServerAliveInterval != 15*time.Second {
				t.Errorf("web1 timeouts %v %v", w.ConnectTimeout, w.ServerAliveInterval)
			}
			if w.StrictHostKeyChecking != hosts.HostKeyAcceptNew {
				t.Errorf("web1 strict %q", w.StrictHostKeyChecking)
			}
			if !reflect.DeepEqual(w.UserKnownHostsFiles, []string{filepath.Join(dir, "kh1"), filepath.Join(dir, "kh2")}) {
				t.Errorf("web1 known hosts %v", w.UserKnownHostsFiles)
			}
			// jump1,jump2: jump2 is reached through jump1 (its own ProxyJump
			// is the same here), jump1 directly.
			if w.Jump == nil || w.Jump.HostName != "10.77.0.2" || w.Jump.Jump == nil ||
				w.Jump.Jump.HostName != "10.77.0.1" || w.Jump.Jump.Port != 2201 || w.Jump.Jump.User != "hopper" || w.Jump.Jump.Jump != nil {
				t.Errorf("web1 jumps wrong: %+v", w.Jump)
			}
			cmd := w.SSHCommand("uptime")
			for _, part := range []string{"-J hopper@10.77.0.1:2201,fallback@10.77.0.2:2022", "-p 2022", "-- deploy@web1.example.test", "IdentitiesOnly=yes", "uptime"} {
				if !strings.Contains(cmd, part) {
					t.Errorf("SSHCommand %q lacks %q", cmd, part)
				}
			}
			m := eps[1]
			if m.User != "root" || m.HostName != "10.77.0.9" || m.Port != 2299 {
				t.Errorf("matched: %s@%s:%d", m.User, m.HostName, m.Port)
			}
			if m.ServerAliveInterval != 42*time.Second || m.ConnectTimeout == 99*time.Second {
				t.Errorf("matched: Match host/exec: alive %v timeout %v", m.ServerAliveInterval, m.ConnectTimeout)
			}
			in := eps[2]
			if in.HostName != "10.77.0.5" || in.Port != 2333 || in.StrictHostKeyChecking != hosts.HostKeyDangerousAcceptAny {
				t.Errorf("included: %s:%d %s", in.HostName, in.Port, in.StrictHostKeyChecking)
			}
			p := eps[3]
			if p.HostName != "192.0.2.7" || p.User != "u" || p.Port != 2022 || p.StrictHostKeyChecking != hosts.HostKeyStrict || p.Jump != nil {
				t.Errorf("plain: %+v", p)
			}
			if eps[4].HostName != "web-old" || eps[4].User != "fallback" {
				t.Errorf("negated pattern: %+v", eps[4])
			}
		})
	}
}

func TestResolveVagrantOneCall(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := `#!/bin/sh
echo "$@" >> ` + log + `
for m in "$2" "$3"; do
cat <<VEOF
Host $m
  HostName 127.0.0.1
  User vagrant
  Port 22$(printf %02d ${#m})
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /vagrant/$m/private_key
  IdentitiesOnly yes
  LogLevel FATAL


VEOF
done
`
	bin := filepath.Join(dir, "vagrant")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{VagrantPath: bin, SSHPath: NoSSHClient, Home: dir}
	eps, err := r.Resolve(context.Background(), []Spec{{Name: "vagrant:m1"}, {Name: "vagrant:k8s-w1", User: "root"}})
	if err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(log)
	if strings.TrimSpace(string(calls)) != "ssh-config m1 k8s-w1" {
		t.Fatalf("vagrant calls: %q", calls)
	}
	if eps[0].Port != 2202 || eps[0].User != "vagrant" || eps[0].IdentityFiles[0] != "/vagrant/m1/private_key" ||
		eps[0].StrictHostKeyChecking != hosts.HostKeyDangerousAcceptAny || eps[0].PasswordAuthentication {
		t.Errorf("m1: %+v", eps[0])
	}
	if eps[1].Port != 2206 || eps[1].User != "root" {
		t.Errorf("k8s-w1: %+v", eps[1])
	}
	if _, err := r.Resolve(context.Background(), []Spec{{Name: "vagrant:"}}); err == nil {
		t.Error("an unknown vagrant machine should fail")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pat, s string
		ok     bool
	}{{"*", "x", true}, {"web?", "web1", true}, {"web?", "web12", false}, {"*.example.*", "a.EXAMPLE.org", true}, {"a*b", "acb", true}, {"a*b", "acbc", false}} {
		if globMatch(c.pat, c.s) != c.ok {
			t.Errorf("globMatch(%q, %q) != %v", c.pat, c.s, c.ok)
		}
	}
}

func TestResolveFallsBackWithoutDashG(t *testing.T) {
	dir, file := writeTestConfig(t)
	old := filepath.Join(dir, "old-ssh")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho 'ssh: illegal option -- G' >&2\nexit 255\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{ConfigFile: file, Home: dir, SSHPath: old}
	eps, err := r.Resolve(context.Background(), []Spec{{Name: "web1"}})
	if err != nil {
		t.Fatal(err)
	}
	if eps[0].Source != "ssh_config" || eps[0].HostName != "web1.example.test" {
		t.Fatalf("fallback: %+v", eps[0])
	}
}

// Every host that cannot be resolved is reported, in the specs' order,
// not just the first to fail.
func TestResolveReportsEveryBadHost(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config")
	conf := "Host bad1\n  Port 99999\nHost bad2\n  StrictHostKeyChecking sometimes\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{ConfigFile: file, Home: dir, SSHPath: NoSSHClient}
	_, err := r.Resolve(context.Background(), []Spec{{Name: "bad2"}, {Name: "good"}, {Name: "bad1"}})
	if err == nil {
		t.Fatal("resolved bad hosts")
	}
	msg := err.Error()
	i2, i1 := strings.Index(msg, "bad2"), strings.Index(msg, "bad1")
	if !strings.Contains(msg, "2 hosts cannot be resolved") || i2 < 0 || i1 < 0 || i2 > i1 {
		t.Fatalf("want both hosts, bad2 first: %v", err)
	}
	// One bad host reads as its own error.
	_, err = r.Resolve(context.Background(), []Spec{{Name: "good"}, {Name: "bad1"}})
	if err == nil || strings.Contains(err.Error(), "hosts cannot be resolved") || !strings.Contains(err.Error(), "bad1") {
		t.Fatalf("one bad host: %v", err)
	}
}
