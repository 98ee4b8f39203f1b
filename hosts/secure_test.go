package hosts_test

// Regression tests for issue 13 (a hostile host, name or file) and the
// transport bugs of issue 19 that share its code, against the in-process
// server. The ones that need real sshd, sftp-server or sudo are in
// hosts/conformance (secure_lab_test.go).

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/internal/sshtest"
	"github.com/plan-dev/plan/hosts/inventory"
)

// Issue 19, bug 4: when sudo ends without the start marker and without a
// second prompt (here: not in sudoers), the goroutine feeding stdin used to
// wait for ever, one per command.
func TestSudoEndingWithoutMarkerLeaksNoGoroutine(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"plan": {SudoPassword: "pw", NoSudo: true}})
	tr := dialWorld(t, w, "plan", hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=pw"}, SessionPerCommand: true})
	run := func() {
		err := tr.Run(bg(t), &hosts.Command{Cmd: "true", Sudo: true, Stdin: strings.NewReader("data\n")})
		var ee *hosts.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("want an ExitError from sudo, got %v", err)
		}
	}
	run() // the probe, the connection and its sftp-less helpers
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 20
	for range n {
		run()
	}
	if after := settledGoroutines(before); after >= before+n {
		t.Fatalf("%d goroutines before %d failed sudo commands, %d after: one leaks per command", before, n, after)
	}
}

// settledGoroutines waits (bounded) for the goroutine count to come down to
// want, and returns it.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// Issue 13, item 3: when sudo does not ask (a NOPASSWD rule for the
// command while `sudo -n true` still needs a password), the password must
// not be written: it would be the command's stdin (`cat` printed it) or,
// for a reused shell, a command line the shell runs.
func TestSudoPasswordSentOnlyWhenAsked(t *testing.T) {
	for _, perCommand := range []bool{true, false} {
		t.Run(fmt.Sprintf("SessionPerCommand=%v", perCommand), func(t *testing.T) {
			w := newWorld(t, map[string]*sshtest.User{"plan": {SudoPassword: "pw", SudoShellNoPassword: true}})
			leak := filepath.Join(w.dir, "leaked")
			// As a command line the password would create the file.
			pw := "touch " + leak
			w.srv.Users["plan"].SudoPassword = pw
			tr := dialWorld(t, w, "plan", hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=" + pw}, SessionPerCommand: perCommand})
			out, errOut, err := runOut(t, tr, &hosts.Command{Cmd: "cat; echo done", Sudo: true})
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			if out != "done\n" {
				t.Fatalf("stdout %q: the password reached the command's stdin", out)
			}
			if _, err := os.Stat(leak); err == nil {
				t.Fatal("the password was run as a command")
			}
		})
	}
}

// Issue 13, item 2: a root push used to chown/chmod its temp file by
// path, so whoever can write the destination's directory could swap the
// temp file for a symlink and have root change the owner and mode of any
// file. A watcher swaps every temp file it sees; the victim must stay as
// it was, small pushes and big (sftp) ones alike.
func TestPushFollowsNoSwappedSymlink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root (CI runs as root)")
	}
	w := newWorld(t, map[string]*sshtest.User{"root": {}})
	tr := dialWorld(t, w, "root", hosts.Options{})
	dir := filepath.Join(t.TempDir(), "alice-ssh")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(victim, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	swaps := make(chan int, 1)
	go func() { swaps <- swapTempFiles(dir, ".authorized_keys.plan-", victim, stop) }()
	for i := range 30 {
		content := []byte(fmt.Sprintf("ssh-ed25519 AAAA key %d\n", i))
		if i%10 == 9 {
			content = append(content, make([]byte, 2<<20)...) // the sftp path
		}
		tr.Push(bg(t), &hosts.Upload{Path: filepath.Join(dir, "authorized_keys"), Content: content, Owner: "nobody", Mode: 0o604})
		fi, err := os.Stat(victim)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || fileUID(fi) != 0 {
			close(stop)
			t.Fatalf("push %d changed the victim: mode %v uid %d", i, fi.Mode().Perm(), fileUID(fi))
		}
	}
	close(stop)
	if n := <-swaps; n == 0 {
		t.Fatal("the watcher never swapped a temp file: the test proves nothing")
	} else {
		t.Logf("%d temp files swapped for a symlink", n)
	}
}

// swapTempFiles replaces every file in dir whose name starts with prefix
// by a symlink to victim, as fast as it can, until stop; it returns how
// many it replaced.
func swapTempFiles(dir, prefix, victim string, stop <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-stop:
			return n
		default:
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), prefix) || e.Type()&os.ModeSymlink != 0 {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if os.Remove(p) == nil && os.Symlink(victim, p) == nil {
				n++
			}
		}
	}
}

func fileUID(fi os.FileInfo) int {
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// Issue 13, item 7: a push whose destination is a directory, or a symlink
// to one, reported success and left .NAME.plan-* files inside it.
func TestPushToDirectoryRefused(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	tr := dialWorld(t, w, "u", hosts.Options{})
	base := t.TempDir()
	dir := filepath.Join(base, "conf.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{dir, link} {
		for _, size := range []int{10, 2 << 20} {
			_, err := tr.Push(bg(t), &hosts.Upload{Path: dest, Content: make([]byte, size), Mode: 0o644})
			if err == nil || !strings.Contains(err.Error(), "is a directory") {
				t.Errorf("push of %d bytes to %s: want a directory error, got %v", size, dest, err)
			}
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	left2, _ := filepath.Glob(filepath.Join(base, ".*"))
	if len(left)+len(left2) > 0 {
		t.Fatalf("temp files left: %v %v", left, left2)
	}
}

// Issue 19, bug 3: a push whose chown fails must say why (the remote
// stderr), not only "exit status 1", and leave no temp file.
func TestPushFailureCarriesStderrAndLeavesNoTemp(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	tr := dialWorld(t, w, "u", hosts.Options{})
	dir := t.TempDir()
	for _, size := range []int{10, 2 << 20} {
		_, err := tr.Push(bg(t), &hosts.Upload{Path: filepath.Join(dir, "f"), Content: make([]byte, size), Owner: "no-such-user-plan"})
		if err == nil || !strings.Contains(err.Error(), "no-such-user-plan") {
			t.Errorf("push of %d bytes: want chown's complaint in the error, got %v", size, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	staged, _ := filepath.Glob("/tmp/plan-push-*/f")
	if len(left)+len(staged) > 0 {
		t.Fatalf("temp files left: %v %v", left, staged)
	}
}

// resolveWith resolves spec through config text with ssh -G ("ssh") or
// the built-in parser ("parser").
func resolveWith(t *testing.T, how, config string, spec inventory.Spec) (*hosts.Endpoint, error) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &inventory.Resolver{ConfigFile: cfg, Home: dir, SSHPath: inventory.NoSSHClient}
	if how == "ssh" {
		p, err := exec.LookPath("ssh")
		if err != nil {
			t.Skip("no OpenSSH client")
		}
		r.SSHPath = p
	}
	eps, err := r.Resolve(bg(t), []inventory.Spec{spec})
	if err != nil {
		return nil, err
	}
	return eps[0], nil
}

// Issue 13, item 1: a plan's address, a -H name or a user reached
// ProxyCommand's and Match exec's shell through %h %n %r unquoted.
func TestNamesCannotReachAShell(t *testing.T) {
	for _, how := range []string{"ssh", "parser"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			mark := filepath.Join(dir, "ran")
			evil := "$(touch " + mark + ")"
			configs := map[string]string{
				"proxycommand": "Host *\n  ProxyCommand nc %h %p\n",
				"matchexec":    "Match exec \"test -n %h%n%r\"\n  Port 2222\n",
			}
			specs := []inventory.Spec{
				{Name: "h", Address: "10.0.0.1" + evil},
				{Name: "g" + evil},
				{Name: "h", User: "u" + evil},
				{Name: "h", User: "-oProxyCommand=sh"},
				{Name: "-oProxyCommand=sh"},
				{Name: "h", Address: "10.0.0.1;id"},
				{Name: "h", Address: "10.0.0.1 x"},
			}
			for cname, config := range configs {
				for _, spec := range specs {
					ep, err := resolveWith(t, how, config, spec)
					if err == nil {
						t.Errorf("%s: %+v resolved (ProxyCommand %q)", cname, spec, ep.ProxyCommand)
					}
					if _, err := os.Stat(mark); err == nil {
						t.Fatalf("%s: %+v ran a command", cname, spec)
					}
				}
			}
			// ssh_config's own HostName is checked too when it reaches a shell.
			if _, err := resolveWith(t, how, "Host evil\n  HostName a"+evil+"\n  ProxyCommand nc %h %p\n", inventory.Spec{Name: "evil"}); err == nil {
				t.Error("HostName with $( ) resolved")
			}
			// What is allowed is quoted when substituted outside quotes,
			// and left alone inside the user's own quotes.
			ep, err := resolveWith(t, how, "Host *\n  ProxyCommand nc %h %p '%r'\n", inventory.Spec{Name: "h", Address: "10.0.0.*", User: "u"})
			if err != nil {
				t.Fatal(err)
			}
			if want := `nc '10.0.0.*' 22 'u'`; ep.ProxyCommand != want {
				t.Errorf("ProxyCommand %q, want %q", ep.ProxyCommand, want)
			}
		})
	}
}

// Issue 13, item 10: the built-in parser took `User -oProxyCommand=sh`
// from ssh_config, and the reproducer line then read
// `ssh ... -oProxyCommand=sh@host`. Such a user is refused, and every
// reproducer has "--" before the destination.
func TestUserBeginningWithDashRefused(t *testing.T) {
	for _, how := range []string{"ssh", "parser"} {
		if _, err := resolveWith(t, how, "Host h\n  User -oProxyCommand=sh\n", inventory.Spec{Name: "h"}); err == nil {
			t.Errorf("%s: a user beginning with - resolved", how)
		}
	}
	ep, err := resolveWith(t, "parser", "Host h\n  User deploy\n  Port 2200\n", inventory.Spec{Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if line := ep.SSHCommand("true"); !strings.Contains(line, " -- deploy@h true") {
		t.Fatalf("reproducer %q has no -- before the destination", line)
	}
}

// Issue 13, item 9: PLAN_SUDO_PASSWORD and PLAN_SSH_PASSWORD reached the
// programs plan starts on the operator's machine.
func TestSecretsKeptFromLocalPrograms(t *testing.T) {
	t.Setenv(hosts.EnvSudoPassword, "sudo-s3cret")
	t.Setenv(hosts.EnvSSHPassword, "ssh-s3cret")
	dir := t.TempDir()
	envOut := filepath.Join(dir, "env-")
	// A fake ssh (for -G) and vagrant that record their environment.
	fake := func(name, out string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\nenv > "+envOut+name+"\n"+out), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sshBin := fake("ssh", "echo hostname 127.0.0.1; echo port 22; echo user u\n")
	vagrantBin := fake("vagrant", "printf 'Host m\\n  HostName 127.0.0.1\\n  User vagrant\\n  Port 2222\\n'\n")
	cfg := filepath.Join(dir, "config")
	config := "Match exec \"env > " + envOut + "matchexec\"\n  Port 2200\nHost pc\n  ProxyCommand env > " + envOut + "proxycommand; exit 1\n"
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &inventory.Resolver{ConfigFile: cfg, Home: dir, SSHPath: sshBin, VagrantPath: vagrantBin, VagrantDir: dir}
	if _, err := r.Resolve(bg(t), []inventory.Spec{{Name: "a"}, {Name: "vagrant:m"}}); err != nil {
		t.Fatal(err)
	}
	r.SSHPath = inventory.NoSSHClient
	eps, err := r.Resolve(bg(t), []inventory.Spec{{Name: "pc"}})
	if err != nil {
		t.Fatal(err)
	}
	eps[0].StrictHostKeyChecking = hosts.HostKeyDangerousAcceptAny
	ctx, cancel := context.WithTimeout(bg(t), 5*time.Second)
	defer cancel()
	if tr, err := hosts.NewDialer(hosts.Options{}).Dial(ctx, eps[0]); err == nil {
		tr.Close()
	}
	for _, name := range []string{"ssh", "vagrant", "matchexec", "proxycommand"} {
		b, err := os.ReadFile(envOut + name)
		if err != nil {
			t.Errorf("%s did not run: %v", name, err)
			continue
		}
		if strings.Contains(string(b), "s3cret") {
			t.Errorf("%s saw a password in its environment", name)
		}
	}
}

// Issue 13, item 11: x/crypto's knownhosts skips a line it cannot parse,
// so an @revoked line for a key type it does not know (or a damaged one)
// revoked nothing. Such a revocation must refuse, not pass.
func TestUnreadableRevocationRefuses(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	good, err := os.ReadFile(w.kh)
	if err != nil {
		t.Fatal(err)
	}
	// An SSH wire blob of a key type x/crypto does not know.
	blob := append([]byte{0, 0, 0, 20}, "ssh-unknown@plan.dev"...)
	blob = append(blob, 0, 0, 0, 4, 1, 2, 3, 4)
	for _, line := range []string{
		"@revoked * ssh-unknown@plan.dev " + base64.StdEncoding.EncodeToString(blob),
		"@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKUiMaged",
	} {
		if err := os.WriteFile(w.kh, append(append([]byte{}, good...), line+"\n"...), 0o600); err != nil {
			t.Fatal(err)
		}
		tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), w.endpoint("u"))
		if err == nil {
			tr.Close()
			t.Errorf("%q: connected", line)
		} else if !errors.Is(err, hosts.ErrHostKeyChanged) || !strings.Contains(err.Error(), "revocation") {
			t.Errorf("%q: want a refusal naming the revocation, got %v", line, err)
		}
	}
	// A readable revocation of another key changes nothing.
	if err := os.WriteFile(w.kh, append(good, "@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(w.pub)))+"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), w.endpoint("u"))
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
}

// Issue 13, item 5: Fetch held a whole file in memory (200 MB took 1.83
// GB). With MaxBytes a bigger file fails, through sftp and `sudo cat`
// alike, and a file within the bound still comes whole.
func TestFetchBounded(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	tr := dialWorld(t, w, "u", hosts.Options{})
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sudo := range []bool{false, true} {
		_, err := tr.Fetch(bg(t), &hosts.Download{Path: p, Sudo: sudo, MaxBytes: 1 << 20})
		if !errors.Is(err, hosts.ErrTooLarge) {
			t.Errorf("sudo %v: want ErrTooLarge, got %v", sudo, err)
		}
		b, err := tr.Fetch(bg(t), &hosts.Download{Path: p, Sudo: sudo, MaxBytes: 3 << 20})
		if err != nil || len(b) != 3<<20 {
			t.Errorf("sudo %v: within the bound: %d bytes, %v", sudo, len(b), err)
		}
	}
}
