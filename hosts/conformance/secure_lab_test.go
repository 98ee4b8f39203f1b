package conformance

// Issue 13 against real OpenSSH: sshd, sftp-server and sudo of the lab
// hosts (see hosts/secure_test.go for the in-process side).

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/integration/lab"
)

// labSh runs script as root on h and fails the test on error.
func labSh(t *testing.T, l *lab.Lab, h *lab.Host, script string) string {
	t.Helper()
	out, err := l.Exec(labCtx(t), h, script)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// labWatcher starts script in the background as user on h, and stops it
// (by its PID) when the test ends.
func labWatcher(t *testing.T, l *lab.Lab, h *lab.Host, user, script string) {
	t.Helper()
	pid := labSh(t, l, h, fmt.Sprintf("runuser -u %s -- setsid /bin/sh -c %s </dev/null >/dev/null 2>&1 & echo $!",
		user, hosts.ShellQuote(script)))
	t.Cleanup(func() { l.Exec(labCtx(t), h, "kill -- -"+pid+" "+pid+" 2>/dev/null") })
}

// Item 2: whoever can write the destination's directory (here nopw, who
// owns it) swaps each temp file for a symlink to a root-only file while
// root (and plan through sudo) pushes with an owner and a mode; the
// victim's owner and mode must not change.
func TestLabPushFollowsNoSwappedSymlink(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[0]
	id := time.Now().UnixNano()
	dir := fmt.Sprintf("/tmp/secure-swap-%d", id)
	victim := fmt.Sprintf("/tmp/secure-victim-%d", id)
	count := fmt.Sprintf("/tmp/secure-swaps-%d", id)
	labSh(t, l, h, fmt.Sprintf("mkdir -m 0755 %s && chown nopw: %s && echo secret >%s && chmod 0600 %s && touch %s && chown nopw: %s",
		dir, dir, victim, victim, count, count))
	t.Cleanup(func() { l.Exec(labCtx(t), h, "rm -rf "+dir+" "+victim+" "+count) })
	labWatcher(t, l, h, lab.UserNopw, fmt.Sprintf(
		`while :; do for f in %s/.authorized_keys.plan-*; do [ -f "$f" ] && [ ! -h "$f" ] && rm -f "$f" && ln -s %s "$f" && echo >>%s; done; done`,
		dir, victim, count))
	for _, user := range []string{lab.UserRoot, lab.UserPlan} {
		tr := dialLab(t, labDialer(t, l), labEndpoint(t, l, h, user))
		for i := range 12 {
			content := []byte(fmt.Sprintf("ssh-ed25519 AAAA %s %d\n", user, i))
			if i%6 == 5 {
				content = append(content, bytes.Repeat([]byte("x"), 2<<20)...) // the sftp path
			}
			tr.Push(labCtx(t), &hosts.Upload{Path: dir + "/authorized_keys", Content: content, Sudo: true, Owner: lab.UserNopw, Mode: 0o604})
			if got := labSh(t, l, h, "stat -c '%U %a' "+victim); got != "root 600" {
				t.Fatalf("%s push %d changed the victim: %s", user, i, got)
			}
		}
	}
	swaps := labSh(t, l, h, "wc -l <"+count)
	if swaps == "0" {
		t.Fatal("the watcher swapped no temp file: the test proves nothing")
	}
	t.Logf("%s temp files swapped for a symlink", swaps)
}

// Item 4: a big push (sftp) with mode 0600 must never be readable by
// another user while it uploads. nopw tries to open every temp file it can
// see, beside the destination and in /tmp, all along.
func TestLabBigPushNotReadableWhileUploading(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[0]
	id := time.Now().UnixNano()
	dir := fmt.Sprintf("/tmp/secure-big-%d", id)
	seen := fmt.Sprintf("/tmp/secure-read-%d", id)
	labSh(t, l, h, fmt.Sprintf("mkdir -m 0755 %s && touch %s && chown nopw: %s", dir, seen, seen))
	t.Cleanup(func() { l.Exec(labCtx(t), h, "rm -rf "+dir+" "+seen) })
	labWatcher(t, l, h, lab.UserNopw, fmt.Sprintf(
		`while :; do for f in %s/.* /tmp/plan-push-*/*; do [ -f "$f" ] && head -c1 "$f" >/dev/null 2>&1 && echo "$f" >>%s; done; done`, dir, seen))
	for _, user := range []string{lab.UserRoot, lab.UserPlan} {
		tr := dialLab(t, labDialer(t, l), labEndpoint(t, l, h, user))
		if _, err := tr.Push(labCtx(t), &hosts.Upload{Path: dir + "/secret.key", Content: bytes.Repeat([]byte("k"), 64<<20), Sudo: true, Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
	}
	if got := labSh(t, l, h, "sort -u "+seen); got != "" {
		t.Fatalf("another user could read the upload: %s", got)
	}
	if got := labSh(t, l, h, "stat -c '%U %a' "+dir+"/secret.key"); got != "root 600" {
		t.Fatalf("destination %s", got)
	}
}

// Item 3: with a NOPASSWD rule for /bin/sh only, `sudo -n true` still
// needs a password, so plan has one, but sudo asks nothing for the command:
// the password must not become the command's stdin, nor a reused shell's
// command line.
func TestLabSudoPasswordOnlyWhenAsked(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[0]
	rule := "/etc/sudoers.d/zz-secure-test"
	labSh(t, l, h, "echo 'plan ALL=(ALL) NOPASSWD: /bin/sh, /usr/bin/sh' >"+rule+" && chmod 0440 "+rule)
	t.Cleanup(func() { l.Exec(labCtx(t), h, "rm -f "+rule) })
	pw, err := l.Password()
	if err != nil {
		t.Fatal(err)
	}
	for _, perCommand := range []bool{true, false} {
		d := hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=" + pw}, SessionPerCommand: perCommand})
		tr := dialLab(t, d, labEndpoint(t, l, h, lab.UserPlan))
		var out, errb bytes.Buffer
		if err := tr.Run(labCtx(t), &hosts.Command{Cmd: "cat; id -u", Sudo: true, Stdout: &out, Stderr: &errb}); err != nil {
			t.Fatalf("session per command %v: %v: %s", perCommand, err, errb.String())
		}
		if out.String() != "0\n" || strings.Contains(errb.String(), pw) {
			t.Fatalf("session per command %v: the password reached the command: stdout %q stderr %q", perCommand, out.String(), errb.String())
		}
	}
}

// Item 8: in a reused shell, the output of a process a command left in
// the background landed in the next command's stdout. It belongs to the
// command that started it (whose end waits for it, as a session's does).
func TestLabBackgroundOutputStaysWithItsCommand(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[0]
	for _, user := range []string{lab.UserPlan, lab.UserRoot} {
		tr := dialLab(t, labDialer(t, l), labEndpoint(t, l, h, user))
		for _, sudo := range []bool{false, true} {
			var out1, out2, err2 bytes.Buffer
			if err := tr.Run(labCtx(t), &hosts.Command{Cmd: "(sleep 0.3; echo late; echo late-err >&2) & echo now", Sudo: sudo, Stdout: &out1}); err != nil {
				t.Fatal(err)
			}
			if err := tr.Run(labCtx(t), &hosts.Command{Cmd: "sleep 0.6; echo next", Sudo: sudo, Stdout: &out2, Stderr: &err2}); err != nil {
				t.Fatal(err)
			}
			if out1.String() != "now\nlate\n" || out2.String() != "next\n" || err2.String() != "" {
				t.Fatalf("%s sudo %v: first stdout %q, next stdout %q stderr %q", user, sudo, out1.String(), out2.String(), err2.String())
			}
		}
	}
}

// Issue 19, bug 4, on real sudo: when sudo takes the password and then
// ends without starting the command and without asking again (plan is
// not in sudoers), the goroutine feeding stdin used to wait for ever, one
// per command.
func TestLabSudoRefusalLeaksNoGoroutine(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[0]
	labSh(t, l, h, "gpasswd -d plan sudo >/dev/null && { ! [ -e /etc/sudoers.d/plan ] || mv /etc/sudoers.d/plan /root/sudoers.plan.secure; }")
	t.Cleanup(func() {
		l.Exec(labCtx(t), h, "usermod -aG sudo plan; [ -e /root/sudoers.plan.secure ] && mv /root/sudoers.plan.secure /etc/sudoers.d/plan; true")
	})
	if out := labSh(t, l, h, "runuser -u plan -- sudo -l -n 2>&1 || true"); strings.Contains(out, "may run") {
		t.Skipf("plan still has sudo rights on this host: %s", out)
	}
	pw, err := l.Password()
	if err != nil {
		t.Fatal(err)
	}
	d := hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=" + pw}, SessionPerCommand: true})
	tr := dialLab(t, d, labEndpoint(t, l, h, lab.UserPlan))
	run := func() {
		var errb bytes.Buffer
		err := tr.Run(labCtx(t), &hosts.Command{Cmd: "true", Sudo: true, Stdin: strings.NewReader("data\n"), Stderr: &errb})
		if err == nil {
			t.Fatal("sudo ran for a user not in sudoers")
		}
	}
	run()
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 10
	for range n {
		run()
	}
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); after >= before+n && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	if after >= before+n {
		t.Fatalf("%d goroutines before %d refused sudo commands, %d after", before, n, after)
	}
}
