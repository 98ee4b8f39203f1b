package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lightInit prepares a chroot in fresh mount, pid, uts and ipc namespaces
// (inside the host's netns) and becomes its sshd. $1 is the root, $2 the
// hostname. Mounts made here are private to the namespace and vanish with it.
const lightInit = `set -e
R=$1
hostname "$2"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=755,size=4m tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir -m 755 "$R/dev/pts"
mkdir -m 1777 "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mkdir -m 755 "$R/run/sshd" "$R/run/lock"
exec chroot "$R" /usr/sbin/sshd -D -e
`

// cgroupEnter moves the shell into each directory of $PLAN_LAB_CGROUPS and
// becomes systemd-nspawn, so each host lives in its own cgroup subtree in
// every hierarchy (otherwise all hosts share one "payload" cgroup).
const cgroupEnter = `for d in $PLAN_LAB_CGROUPS; do echo $$ > "$d/cgroup.procs"; done; exec "$@"`

// start launches h's process: sshd in a chroot (light) or a booting
// systemd-nspawn container (systemd). It does not wait for sshd.
func (l *Lab) start(ctx context.Context, h *Host) error {
	logFile, err := os.OpenFile(filepath.Join(h.Dir, "console.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	var cmd *exec.Cmd
	if l.Systemd {
		if h.Cgroups == nil {
			dirs, err := makeCgroups(h.Netns)
			if err != nil {
				return err
			}
			l.mu.Lock()
			h.Cgroups = dirs
			l.mu.Unlock()
			if err := l.save(); err != nil {
				return err
			}
		}
		args := []string{"-c", cgroupEnter, "sh", "systemd-nspawn",
			"--quiet", "--boot", "--register=no", "--keep-unit",
			"--capability=all", "--system-call-filter=@keyring",
			"--machine=" + h.Netns, "--hostname=" + h.Name,
			"--directory=" + h.Root,
			"--network-namespace-path=/run/netns/" + h.Netns,
			"--bind=" + filepath.Join(h.Dir, "containerd") + ":/var/lib/containerd",
			"--bind-ro=/dev/kmsg",
			"--resolv-conf=off", "--timezone=off", "--link-journal=no",
			"--console=read-only",
		}
		cmd = exec.Command("/bin/sh", args...)
		// A clean environment: nothing of the caller's (NOTIFY_SOCKET,
		// SYSTEMD_*) may change how nspawn behaves.
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
			"PLAN_LAB_CGROUPS=" + strings.Join(h.Cgroups, " ")}
	} else {
		cmd = exec.Command("nsenter", "--net=/run/netns/"+h.Netns, "--",
			"unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child=SIGKILL",
			"--propagation", "private", "--",
			"/bin/sh", "-c", lightInit, "sh", h.Root, h.Name)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	}
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own session: a terminal's Ctrl-C must not reach the hosts of a
	// lab that `plan lab up` left running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	p := procOf(cmd.Process.Pid)
	go func() { _ = cmd.Wait() }() // reap it while this process lives
	l.mu.Lock()
	h.Proc = p
	l.mu.Unlock()
	return nil
}

// makeCgroups creates the host's own cgroup below this process's cgroup in
// every hierarchy and returns the directories.
func makeCgroups(name string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var mnt string
		switch {
		case f[1] == "":
			mnt = "/sys/fs/cgroup/unified"
			if f[0] == "0" && !isDir(mnt) { // pure cgroup v2
				mnt = "/sys/fs/cgroup"
			}
		case strings.HasPrefix(f[1], "name="):
			mnt = "/sys/fs/cgroup/" + strings.TrimPrefix(f[1], "name=")
		default:
			mnt = "/sys/fs/cgroup/" + f[1]
		}
		if !isDir(mnt) {
			continue
		}
		parent := filepath.Join(mnt, f[2])
		dir := filepath.Join(parent, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return dirs, fmt.Errorf("cgroup %s: %w", dir, err)
		}
		dirs = append(dirs, dir)
		if strings.Contains(f[1], "cpuset") { // an empty cpuset takes no tasks
			for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(parent, file))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, file), v, 0o644)
				}
				if err != nil {
					return dirs, fmt.Errorf("cgroup %s: %w", dir, err)
				}
			}
		}
	}
	return dirs, nil
}

// removeCgroups removes the host's cgroups, deepest first; the kernel
// empties them asynchronously after the processes die, so it retries.
func removeCgroups(dirs []string) error {
	var last error
	for attempt := 0; attempt < 50; attempt++ {
		last = nil
		for _, d := range dirs {
			if !isDir(d) {
				continue
			}
			var sub []string
			_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					sub = append(sub, p)
				}
				return nil
			})
			for i := len(sub) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(sub[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
					last = fmt.Errorf("rmdir %s: %w", sub[i], err)
				}
			}
		}
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// nsInit finds the PID 1 of the pid namespace below p: the first
// descendant whose NSpid ends in 1.
func nsInit(p Proc) int {
	if !p.Alive() {
		return 0
	}
	queue := []int{p.PID}
	for depth := 0; len(queue) > 0 && depth < 6; depth++ {
		var next []int
		for _, pid := range queue {
			for _, c := range children(pid) {
				if isNSInit(c) {
					return c
				}
				next = append(next, c)
			}
		}
		queue = next
	}
	return 0
}

func isNSInit(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "NSpid:") {
			f := strings.Fields(line)
			return len(f) > 2 && f[len(f)-1] == "1"
		}
	}
	return false
}

// stop ends h's process tree: SIGKILL to the namespace's PID 1 takes every
// process of the host with it (util-linux unshare ignores SIGTERM, and a
// disposable host needs no clean shutdown), then to the recorded process.
func (l *Lab) stop(h *Host) error {
	l.mu.Lock()
	p := h.Proc
	l.mu.Unlock()
	if !p.Alive() {
		return nil
	}
	if init := nsInit(p); init > 0 {
		_ = syscall.Kill(init, syscall.SIGKILL)
	}
	if !waitGone(p, 5*time.Second) {
		p.signal(syscall.SIGKILL)
		if !waitGone(p, 5*time.Second) {
			return fmt.Errorf("lab: host %s: process %d does not die", h.Name, p.PID)
		}
	}
	return nil
}

// Exec runs script with /bin/sh inside h (its namespaces and root), not over
// SSH: for tests to look at or prepare a host directly.
func (l *Lab) Exec(ctx context.Context, h *Host, script string) ([]byte, error) {
	l.mu.Lock()
	p := h.Proc
	l.mu.Unlock()
	init := nsInit(p)
	if init == 0 {
		return nil, fmt.Errorf("lab: host %s is not running", h.Name)
	}
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(init), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
		"--", "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("lab: exec on %s: %w: %s", h.Name, err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// KillSSHD kills h's sshd and every SSH session on it, and leaves it down
// until RestartSSHD. In the light variant sshd is the host's PID 1, so the
// whole host process tree goes; in the systemd variant the unit is stopped
// and the session processes killed.
func (l *Lab) KillSSHD(h *Host) error {
	if !l.Systemd {
		return l.stop(h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := l.Exec(ctx, h, "systemctl stop ssh.service; pkill -KILL -x sshd; true")
	return err
}

// RestartSSHD (re)starts h's sshd and waits until it answers.
func (l *Lab) RestartSSHD(ctx context.Context, h *Host) error {
	if l.Systemd {
		if _, err := l.Exec(ctx, h, "systemctl restart ssh.service"); err != nil {
			return err
		}
	} else {
		if err := l.stop(h); err != nil {
			return err
		}
		if err := l.start(ctx, h); err != nil {
			return err
		}
		if err := l.save(); err != nil {
			return err
		}
	}
	return l.WaitSSH(ctx, h)
}

// PowerOff takes h down as a power cut would: its link goes down first, so
// peers see packets vanish (no FIN, no RST) as from a machine that lost power,
// then every process of the host dies at once (SIGKILL to the namespace's
// PID 1: no shutdown, no unit stops). The host's disk (its overlay upper
// layer and /var/lib/containerd) stays; what lived in its /run is gone. The
// host stays silent until PowerOn.
func (l *Lab) PowerOff(h *Host) error {
	if err := l.CutLink(h); err != nil {
		return fmt.Errorf("lab: power off %s: link: %w", h.Name, err)
	}
	if err := l.stop(h); err != nil {
		return fmt.Errorf("lab: power off %s: %w", h.Name, err)
	}
	// Anything still in the host's network namespace belonged to it.
	for _, pid := range netnsPIDs(h.Netns) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// A booting systemd makes its own tree below the host's cgroups, and
	// finds the old, empty one confusing: the next boot gets fresh ones.
	l.mu.Lock()
	dirs := h.Cgroups
	h.Cgroups = nil
	l.mu.Unlock()
	if err := removeCgroups(dirs); err != nil {
		return fmt.Errorf("lab: power off %s: %w", h.Name, err)
	}
	return l.save()
}

// PowerOn boots a host that PowerOff took down, from the disk it left, with
// its link up again, and waits until its sshd answers.
func (l *Lab) PowerOn(ctx context.Context, h *Host) error {
	l.mu.Lock()
	p := h.Proc
	l.mu.Unlock()
	if p.Alive() {
		return fmt.Errorf("lab: power on %s: it is running (process %d)", h.Name, p.PID)
	}
	if err := l.RestoreLink(h); err != nil {
		return fmt.Errorf("lab: power on %s: link: %w", h.Name, err)
	}
	if err := l.start(ctx, h); err != nil {
		return fmt.Errorf("lab: power on %s: %w", h.Name, err)
	}
	if err := l.save(); err != nil {
		return err
	}
	return l.WaitSSH(ctx, h)
}

// CutLink takes the root-side end of h's veth down: packets stop both ways,
// open TCP connections hang (no reset), as with a pulled cable.
func (l *Lab) CutLink(h *Host) error {
	return run(context.Background(), "ip", "link", "set", h.Veth, "down")
}

// RestoreLink brings h's link back up.
func (l *Lab) RestoreLink(h *Host) error {
	return run(context.Background(), "ip", "link", "set", h.Veth, "up")
}

// ChangeHostKey gives h a new host key and restarts its sshd. KnownHosts is
// not updated, so clients now see a changed key; TrustHostKeys accepts it.
func (l *Lab) ChangeHostKey(ctx context.Context, h *Host) error {
	if err := l.writeHostKey(h); err != nil {
		return fmt.Errorf("lab: host %s: new host key: %w", h.Name, err)
	}
	if err := l.save(); err != nil {
		return err
	}
	return l.RestartSSHD(ctx, h)
}

// Close tears down everything the lab made, in reverse: host processes (by
// recorded PID and start time), mounts below the lab directory, network
// namespaces, veths, the bridge, cgroups, the directory and the claim. It
// works from the recorded state alone, after a failed start or from another
// process, and keeps going past errors, returning them all.
func (l *Lab) Close() error {
	if l.reused() {
		return nil
	}
	start := time.Now()
	var errs []error
	if err := l.stopLinks(); err != nil {
		errs = append(errs, err)
	}
	// Kill every host first, then wait: a host full of pods takes a while
	// to die, and the hosts die in parallel.
	for _, h := range l.Hosts {
		l.mu.Lock()
		p := h.Proc
		l.mu.Unlock()
		if init := nsInit(p); init > 0 {
			_ = syscall.Kill(init, syscall.SIGKILL)
		}
	}
	for _, h := range l.Hosts {
		if err := l.stop(h); err != nil {
			errs = append(errs, err)
		}
	}
	// Anything still in one of our namespaces is ours by construction.
	for _, h := range l.Hosts {
		for _, pid := range netnsPIDs(h.Netns) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := unmountAll(l.Dir); err != nil {
		errs = append(errs, fmt.Errorf("lab %d: %w", l.ID, err))
	}
	for _, h := range l.Hosts {
		if _, err := os.Stat("/run/netns/" + h.Netns); err == nil {
			if err := run(context.Background(), "ip", "netns", "del", h.Netns); err != nil {
				errs = append(errs, err)
			}
		}
		// Deleting the netns usually takes the veth pair with it, a moment later.
		if linkExists(h.Veth) {
			if err := run(context.Background(), "ip", "link", "del", h.Veth); err != nil && linkExists(h.Veth) {
				errs = append(errs, err)
			}
		}
	}
	if l.Bridge != "" && linkExists(l.Bridge) {
		if err := run(context.Background(), "ip", "link", "del", l.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range l.Hosts {
		if err := removeCgroups(h.Cgroups); err != nil {
			errs = append(errs, fmt.Errorf("lab: host %s: %w", h.Name, err))
		}
	}
	if len(errs) == 0 {
		if err := removeTree(l.Dir); err != nil {
			errs = append(errs, err)
		} else if b, err := os.ReadFile(claimPath(l.ID)); err == nil && strings.TrimSpace(string(b)) == l.Dir {
			_ = os.Remove(claimPath(l.ID))
		}
	}
	if l.logf != nil {
		l.logf("lab %d: torn down in %s", l.ID, time.Since(start).Round(10*time.Millisecond))
	}
	// errors.Join, not go-multierror: gathered in sequence and only
	// printed (one a line), which the standard library does as well.
	return errors.Join(errs...)
}

// reused reports whether l's id now belongs to another lab: l was torn down
// before, its id was released and claimed again, and the names derived from
// the id (bridge, netns, veths, directory) are the new lab's. A late second
// Close of the old Lab must then touch nothing.
func (l *Lab) reused() bool {
	current, err := Load(l.Dir)
	return err == nil && !current.Created.Equal(l.Created)
}

// netnsPIDs lists the processes in a named network namespace.
func netnsPIDs(name string) []int {
	if _, err := os.Stat("/run/netns/" + name); err != nil {
		return nil
	}
	out, err := exec.Command("ip", "netns", "pids", name).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// Freeze stops (SIGSTOP) every process of h: the kernel still completes TCP
// handshakes on sshd's listening socket, but nothing answers, so new SSH
// connections hang before the banner and open sessions stall mid-command.
// Thaw resumes them.
func (l *Lab) Freeze(h *Host) error { return l.signalHost(h, syscall.SIGSTOP) }

// Thaw resumes a frozen host.
func (l *Lab) Thaw(h *Host) error { return l.signalHost(h, syscall.SIGCONT) }

// signalHost signals every process in h's network namespace: sshd and the
// host's services (systemd-nspawn itself stays outside; pods, which have
// their own network namespaces, are not reached).
func (l *Lab) signalHost(h *Host, sig syscall.Signal) error {
	pids := netnsPIDs(h.Netns)
	if len(pids) == 0 {
		return fmt.Errorf("lab: host %s has no processes", h.Name)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	return nil
}
