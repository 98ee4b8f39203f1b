package hoststest

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"

	"github.com/plan-dev/plan/hosts"
)

// FakeShell is a FakeHandler that runs each command with the local /bin/sh
// in dir, as the current user (Sudo is ignored), and kills the command's
// whole process group when ctx ends. Files it writes are on the local disk,
// not in the Fake's in-memory file system: use it for tests about commands,
// not about pushed files.
func FakeShell(dir string) FakeHandler {
	return func(ctx context.Context, r *FakeRun) error {
		env, err := hosts.ExportPrefix(r.Env)
		if err != nil {
			return err
		}
		cmd := exec.Command("/bin/sh", "-c", env+r.Cmd)
		cmd.Dir = dir
		cmd.Stdin, cmd.Stdout, cmd.Stderr = r.Stdin, r.Stdout, r.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// The shell may leave children holding stdout; do not wait for
		// them longer than this once it exits.
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return hosts.ContextError(ctx)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return hosts.NewExitError(128+int(ws.Signal()), "", "")
			}
			return hosts.NewExitError(ee.ExitCode(), "", "")
		}
		return err
	}
}
