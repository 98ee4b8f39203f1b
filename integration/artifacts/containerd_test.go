package artifacts

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SmokeEnv set to 1 makes TestImagesRunInContainerd start the cache's own containerd.
const SmokeEnv = "PLAN_ARTIFACTS_SMOKE"

// TestImagesRunInContainerd proves the cache's pieces work together on this machine: the
// cache's containerd (with its shim and runc, seccomp on) imports every image tarball with the
// command the scratch plan uses, and runs a program from each. It needs root, a complete cache
// and PLAN_ARTIFACTS_SMOKE=1 (it starts a private containerd with its own socket, root and
// state under a temporary directory, and stops it again).
func TestImagesRunInContainerd(t *testing.T) {
	if os.Getenv(SmokeEnv) != "1" {
		t.Skipf("set %s=1 to run the containerd smoke test", SmokeEnv)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := DirFromEnv()
	if missing, err := Missing(dir, Components()); err != nil || len(missing) > 0 {
		skipUnlessRequired(t, "artifact cache in %s incomplete (missing %v, %v)", dir, Names(missing), err)
	}
	bin := t.TempDir()
	for _, p := range []string{"containerd/" + ContainerdVersion + "/containerd", "containerd/" + ContainerdVersion + "/containerd-shim-runc-v2", "containerd/" + ContainerdVersion + "/ctr", "runc/" + RuncVersion + "/runc"} {
		data, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, filepath.Base(p)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Not t.TempDir: containerd's state must be gone (mounts included) before the directory
	// is removed, which the cleanup below orders.
	state, err := os.MkdirTemp("", "artifacts-containerd-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(state, "containerd.sock")
	config := fmt.Sprintf("version = 3\nroot = %q\nstate = %q\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n"+
		"[plugins.\"io.containerd.cri.v1.runtime\".cni]\n  bin_dirs = [%q]\n  conf_dir = %q\n",
		filepath.Join(state, "root"), filepath.Join(state, "state"), sock, sock+".ttrpc", filepath.Join(state, "cni"), filepath.Join(state, "net.d"))
	if err := os.WriteFile(filepath.Join(state, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + bin + ":" + os.Getenv("PATH")
	logFile, err := os.Create(filepath.Join(state, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(filepath.Join(bin, "containerd"), "--config", filepath.Join(state, "config.toml"))
	daemon.Env = append(os.Environ(), path)
	daemon.Stdout, daemon.Stderr = logFile, logFile
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- daemon.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			daemon.Process.Kill()
			<-done
		}
		logFile.Close()
		if mounted(state) {
			t.Errorf("mounts left under %s; not removing it", state)
			return
		}
		os.RemoveAll(state)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctr := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "ctr"), append([]string{"-a", sock, "-n", "k8s.io"}, args...)...)
		cmd.Env = append(os.Environ(), path)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := ctr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("containerd did not answer on %s:\n%s", sock, log)
		}
	}
	runs := map[string][]string{
		"pause":   nil, // runs until SIGTERM; checked separately
		"flannel": {"iptables", "--version"},
		"coredns": {"/coredns", "-version"},
	}
	for _, c := range Components() {
		if !c.IsImage() {
			continue
		}
		file := filepath.Join(dir, filepath.FromSlash(c.Paths()[0]))
		if out, err := ctr("images", "import", "--platform", "linux/amd64", file); err != nil {
			t.Fatalf("import %s: %v\n%s", file, err, out)
		}
		args := runs[c.Name]
		if args == nil {
			continue
		}
		out, err := ctr(append([]string{"run", "--rm", "--seccomp", c.Image.Ref, "smoke-" + c.Name}, args...)...)
		if err != nil {
			t.Errorf("run %s %v: %v\n%s", c.Image.Ref, args, err, out)
		} else {
			t.Logf("%s %v: %s", c.Image.Ref, args, strings.TrimSpace(lastLine(out)))
		}
	}
	if out, err := ctr("run", "-d", "--seccomp", PauseImage, "smoke-pause"); err != nil {
		t.Fatalf("run pause: %v\n%s", err, out)
	}
	time.Sleep(500 * time.Millisecond)
	if out, err := ctr("task", "kill", "-s", "SIGTERM", "smoke-pause"); err != nil {
		t.Errorf("kill pause: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := ctr("task", "ls")
		if !strings.Contains(out, "RUNNING") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("pause still running 10 s after SIGTERM:\n%s", out)
			break
		}
	}
	ctr("task", "delete", "-f", "smoke-pause")
	ctr("container", "delete", "smoke-pause")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// mounted reports whether anything is mounted at or below dir.
func mounted(dir string) bool {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir) {
			return true
		}
	}
	return false
}
