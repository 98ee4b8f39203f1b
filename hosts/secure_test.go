package hosts_test

// Regression tests for issue 13 (a hostile host, name or file) and the
// transport bugs of issue 19 that share its code, against the in-process
// server. The ones that need real sshd, sftp-server or sudo are in
// hosts/conformance (secure_lab_test.go).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/internal/sshtest"
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
