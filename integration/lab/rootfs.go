package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Suite is the Debian release every lab host runs.
const Suite = "bookworm"

// Packages is everything a lab host has installed. Lab hosts have no network
// beyond their bridge, so whatever the scratch plan, the tests or the
// benchmarks run on a host must be in this list. Changing it changes the
// cache key, so the next lab rebuilds the rootfs (about a minute on a fast
// mirror, ~5.5 min on a slow one).
var Packages = []string{
	"bind9-dnsutils", "ca-certificates", "conntrack", "coreutils", "curl", "dbus",
	"ethtool", "iproute2", "iptables", "iputils-ping", "jq", "kmod", "less", "mount",
	"netbase", "netcat-openbsd", "nftables", "openssh-client", "openssh-server",
	"openssl", "procps", "python3", "socat", "sudo", "systemd-sysv", "util-linux",
	"xz-utils",
}

// AptPackages are installed with apt-get inside the debootstrapped tree,
// after Packages: debootstrap's own resolver cannot configure them (polkitd,
// which firewalld and NetworkManager need, fails its postinst there). They
// are part of the cache key too.
var AptPackages = []string{
	// What Oracle Linux runs by default, so the proof meets it: firewalld (with
	// ipset) and NetworkManager, both off unless a lab asks for them.
	"firewalld", "ipset", "network-manager",
	// The node-local API load balancer of a highly available control plane.
	"haproxy",
}

// DefaultCacheDir is where the rootfs tarball and the prepared base tree live
// unless PLAN_LAB_CACHE says otherwise.
const DefaultCacheDir = "/var/cache/plan-lab"

// CacheDir returns the cache directory in use: $PLAN_LAB_CACHE or DefaultCacheDir.
func CacheDir() string {
	if d := os.Getenv("PLAN_LAB_CACHE"); d != "" {
		return d
	}
	return DefaultCacheDir
}

// RootfsKey is the cache key of the debootstrap tarball: a hash of the suite,
// the variant and the sorted package list. The mirror is not part of it: any
// Debian mirror gives the same system.
func RootfsKey(pkgs []string) string {
	set := map[string]bool{}
	for _, p := range pkgs {
		set[p] = true
	}
	sorted := make([]string, 0, len(set))
	for p := range set {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	recipe := fmt.Sprintf("plan-lab-rootfs/v1 suite=%s variant=minbase packages=%s", Suite, strings.Join(sorted, ","))
	sum := sha256.Sum256([]byte(recipe))
	return hex.EncodeToString(sum[:])[:16]
}

// baseKey names the prepared base tree: the tarball plus baseSetup.
func baseKey(rootfsKey string) string {
	sum := sha256.Sum256([]byte(rootfsKey + "\n" + baseSetup))
	return hex.EncodeToString(sum[:])[:16]
}

// EnsureBase returns the directory of the prepared base tree (the overlay
// lower directory of every lab host), building what is missing: the
// debootstrap tarball rootfs-KEY.tar, then base-KEY2/ unpacked from it with
// the lab's users, sshd settings and systemd units. Both steps run under an
// exclusive flock on CACHE/rootfs.lock, so two test packages starting at once
// build it once; the loser waits and then finds it.
func EnsureBase(ctx context.Context, cacheDir string, logf func(string, ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	key := RootfsKey(append(append([]string{}, Packages...), AptPackages...))
	base := filepath.Join(cacheDir, "base-"+baseKey(key))
	if isDir(base) {
		return base, nil // fast path: no lock needed, it is only ever renamed into place
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("lab: create cache dir: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheDir, "rootfs.lock"))
	if err != nil {
		return "", fmt.Errorf("lab: lock rootfs cache: %w", err)
	}
	defer unlock()
	if isDir(base) {
		return base, nil
	}
	tarball := filepath.Join(cacheDir, "rootfs-"+key+".tar")
	if _, err := os.Stat(tarball); err != nil {
		if err := buildTarball(ctx, cacheDir, key, tarball, logf); err != nil {
			return "", err
		}
	}
	if err := prepareBase(ctx, tarball, base, logf); err != nil {
		return "", err
	}
	return base, nil
}

// buildTarball runs debootstrap into a scratch directory and packs it.
func buildTarball(ctx context.Context, cacheDir, key, tarball string, logf func(string, ...any)) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("lab: the rootfs cache %s is empty and debootstrap is not installed (apt-get install debootstrap): %w", tarball, err)
	}
	mirror := DebianMirror()
	build := filepath.Join(cacheDir, "rootfs-"+key+".build")
	if err := removeTree(build); err != nil {
		return err
	}
	start := time.Now()
	logf("lab: building rootfs %s with debootstrap from %s (once per package list; minutes)", key, mirror)
	logPath := filepath.Join(cacheDir, "rootfs-"+key+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("lab: create debootstrap log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, "nice", "-n", "10", "debootstrap", "--variant=minbase",
		"--include="+strings.Join(Packages, ","), Suite, build, mirror)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(); err != nil {
		_ = removeTree(build)
		return fmt.Errorf("lab: debootstrap %s (log: %s): %w", Suite, logPath, err)
	}
	if err := aptInstall(ctx, build, mirror, AptPackages, logFile); err != nil {
		_ = removeTree(build)
		return fmt.Errorf("lab: apt-get install in the rootfs (log: %s): %w", logPath, err)
	}
	// Package archives and indexes are dead weight in every host.
	for _, pattern := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"} {
		matches, _ := filepath.Glob(filepath.Join(build, pattern))
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
	tmp := tarball + ".tmp"
	if out, err := exec.CommandContext(ctx, "nice", "-n", "10", "tar", "-C", build, "--numeric-owner", "--xattrs", "-cf", tmp, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("lab: pack rootfs: %v: %s", err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		return fmt.Errorf("lab: install rootfs tarball: %w", err)
	}
	logf("lab: rootfs %s built in %s", key, time.Since(start).Round(time.Second))
	return removeTree(build)
}

// aptInstall installs pkgs into the debootstrapped tree at root with the
// tree's own apt (chroot, the machine's network and resolver), services
// kept from starting by a policy-rc.d that is removed again.
func aptInstall(ctx context.Context, root, mirror string, pkgs []string, log *os.File) error {
	if len(pkgs) == 0 {
		return nil
	}
	policy := filepath.Join(root, "usr/sbin/policy-rc.d")
	if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return err
	}
	defer os.Remove(policy)
	resolv := filepath.Join(root, "etc/resolv.conf")
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		_ = os.Remove(resolv)
		if err := os.WriteFile(resolv, b, 0o644); err != nil {
			return err
		}
		defer os.Remove(resolv)
	}
	proc := filepath.Join(root, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	defer syscall.Unmount(proc, syscall.MNT_DETACH)
	sources := fmt.Sprintf("deb %s %s main\n", mirror, Suite)
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list"), []byte(sources), 0o644); err != nil {
		return err
	}
	script := "set -e\napt-get update -qq\napt-get install -y -qq --no-install-recommends " + strings.Join(pkgs, " ") + "\napt-get clean\n"
	cmd := exec.CommandContext(ctx, "nice", "-n", "10", "chroot", root, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
	cmd.Stdout, cmd.Stderr = log, log
	return cmd.Run()
}

// prepareBase unpacks the tarball and applies baseSetup inside it (chroot),
// then renames the result into place so readers never see a half-made tree.
func prepareBase(ctx context.Context, tarball, base string, logf func(string, ...any)) error {
	tmp := base + ".tmp"
	if err := removeTree(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("lab: create base dir: %w", err)
	}
	if out, err := exec.CommandContext(ctx, "tar", "-C", tmp, "--numeric-owner", "--xattrs", "-xf", tarball).CombinedOutput(); err != nil {
		return fmt.Errorf("lab: unpack %s: %v: %s", tarball, err, out)
	}
	cmd := exec.CommandContext(ctx, "chroot", tmp, "/bin/sh", "-s")
	cmd.Stdin = strings.NewReader(baseSetup)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: prepare base tree: %v: %s", err, out)
	}
	if err := os.Rename(tmp, base); err != nil {
		return fmt.Errorf("lab: install base tree: %w", err)
	}
	logf("lab: prepared base tree %s", base)
	return nil
}

// DebianMirror is the Debian mirror this machine's apt uses (so the lab
// builds from what the machine can reach), $PLAN_LAB_MIRROR when set, else
// deb.debian.org.
func DebianMirror() string {
	if m := os.Getenv("PLAN_LAB_MIRROR"); m != "" {
		return m
	}
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		if m := mirrorFromSources(f); m != "" {
			return m
		}
	}
	return "http://deb.debian.org/debian"
}

// mirrorFromSources finds the first plain Debian archive (not security, not
// a third-party repository) in a one-line (.list) or deb822 (.sources) file.
func mirrorFromSources(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	isDebian := func(uri string) bool {
		return strings.HasSuffix(strings.TrimRight(uri, "/"), "/debian") && !strings.Contains(uri, "security")
	}
	var uris []string
	isDeb := false
	sc := bufio.NewScanner(f)
	flush := func() string {
		if isDeb {
			for _, u := range uris {
				if isDebian(u) {
					return strings.TrimRight(u, "/")
				}
			}
		}
		uris, isDeb = nil, false
		return ""
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" { // deb822 stanza separator
			if m := flush(); m != "" {
				return m
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch {
		case fields[0] == "deb": // one-line form: deb [opts] URI suite comps
			for _, fld := range fields[1:] {
				if strings.HasPrefix(fld, "[") || strings.HasSuffix(fld, "]") || strings.Contains(fld, "=") {
					continue
				}
				if isDebian(fld) {
					return strings.TrimRight(fld, "/")
				}
				break
			}
		case strings.EqualFold(fields[0], "Types:"):
			for _, t := range fields[1:] {
				isDeb = isDeb || t == "deb"
			}
		case strings.EqualFold(fields[0], "URIs:"):
			uris = append(uris, fields[1:]...)
		}
	}
	return flush()
}

// baseSetup runs once in the unpacked tree (chroot, /bin/sh). Everything per
// host (host key, hostname, addresses, the plan user's password) is written
// later into each host's overlay.
const baseSetup = `set -eu
# Users: plan needs a password for sudo (set per lab), nopw needs none.
id plan >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo plan
id nopw >/dev/null 2>&1 || useradd --create-home --shell /bin/bash nopw
echo 'nopw ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/nopw
chmod 0440 /etc/sudoers.d/nopw
for u in root plan nopw; do
  home=$(getent passwd $u | cut -d: -f6)
  mkdir -p $home/.ssh; chmod 700 $home/.ssh; chown $u:$u $home/.ssh
done

# sshd: each host gets its own ed25519 key; root by key only.
rm -f /etc/ssh/ssh_host_*
cat > /etc/ssh/sshd_config.d/plan-lab.conf <<'CONF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100:30:200
CONF

# systemd variant: inside each host, before sysinit, make the cgroup v1
# controllers and /proc/sys/net writable and shadow the global settings
# kubelet and kube-proxy insist on setting, so the machine's own kernel is
# never changed.
mkdir -p /var/lib/fake-sysctl /var/lib/containerd /usr/local/sbin
echo 10 > /var/lib/fake-sysctl/kernel.panic
echo 1 > /var/lib/fake-sysctl/kernel.panic_on_oops
echo 1 > /var/lib/fake-sysctl/vm.overcommit_memory
echo 0 > /var/lib/fake-sysctl/vm.panic_on_oom
cat > /usr/local/sbin/lab-host-prep <<'PREP'
#!/bin/sh
for d in /sys/fs/cgroup/*/; do
  case "$d" in */systemd/|*/unified/) continue ;; esac
  mountpoint -q "$d" && mount -o remount,bind,rw "$d"
done
mountpoint -q /proc/sys/net || { mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net; }
for f in kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom; do
  p=/proc/sys/$(echo $f | tr . /)
  mountpoint -q $p || mount --bind /var/lib/fake-sysctl/$f $p
done
# kube-proxy sets nf_conntrack_max, which only the machine's own netns may
# write (mode 0444 here: kube-proxy exits), and then raises the machine-wide
# conntrack hashsize if it looks small (EROFS on the read-only /sys: exits
# too). Both get a private copy of the current value.
shadow() {
  [ -e "$1" ] && ! mountpoint -q "$1" || return 0
  cat "$1" > "/var/lib/fake-sysctl/$2" && mount --bind "/var/lib/fake-sysctl/$2" "$1"
}
shadow /proc/sys/net/netfilter/nf_conntrack_max net.netfilter.nf_conntrack_max
shadow /sys/module/nf_conntrack/parameters/hashsize nf_conntrack.hashsize
exit 0
PREP
chmod 755 /usr/local/sbin/lab-host-prep
cat > /etc/systemd/system/lab-host-prep.service <<'UNIT'
[Unit]
Description=plan lab: rw cgroup v1 controllers, rw /proc/sys/net, shadowed global sysctls
DefaultDependencies=no
Before=sysinit.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-host-prep
[Install]
WantedBy=sysinit.target
UNIT
mkdir -p /etc/systemd/system/sysinit.target.wants
ln -sf /etc/systemd/system/lab-host-prep.service /etc/systemd/system/sysinit.target.wants/lab-host-prep.service
# firewalld, NetworkManager and haproxy are installed but off: a lab that
# wants a host like Oracle Linux's turns the first two on per host (Options),
# and the scratch plan configures and starts haproxy itself.
for u in firewalld.service NetworkManager.service NetworkManager-wait-online.service \
         NetworkManager-dispatcher.service haproxy.service; do
  systemctl disable "$u" >/dev/null 2>&1 || true
done
# Units that make no sense on a lab host without network or console.
for u in console-getty.service getty@.service apt-daily.timer apt-daily-upgrade.timer \
         dpkg-db-backup.timer e2scrub_all.timer fstrim.timer systemd-timesyncd.service; do
  ln -sf /dev/null /etc/systemd/system/$u
done
`
