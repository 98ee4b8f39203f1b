// Package lab makes real test hosts on this machine: each host has its own
// network namespace and address on a private bridge, its own root
// filesystem and a real OpenSSH sshd with its own host key. Tests, the
// end-to-end suite and `plan lab` use it; nothing here needs Vagrant.
//
// # Use
//
//	l, err := lab.Up(ctx, lab.Options{Hosts: 3})            // light: sshd only
//	l, err := lab.Up(ctx, lab.Options{Hosts: 3, Systemd: true}) // systemd as PID 1
//	defer l.Close()
//
//	h := l.Hosts[0]       // h.Name "h1", h.Address "10.77.ID.11", h.Port 22
//	l.ClientKey           // private key that logs in as root, plan and nopw
//	l.KnownHosts          // every host's key ("plabID-h1,10.77.ID.11 ssh-ed25519 ...")
//	l.SSHConfig           // ssh -F l.SSHConfig plabID-h1
//	l.Password()          // plan's sudo password (test material: never log it)
//	l.Signer()            // the client key for golang.org/x/crypto/ssh
//	l.Exec(ctx, h, "sh")  // run a script inside h directly (nsenter), not over SSH
//
// Users on every host: root (key only), plan (key; sudo asks for the lab's
// password; PasswordAuthentication is on, so plan may also log in with it)
// and nopw (key; passwordless sudo).
//
// # Fault hooks
//
//   - KillSSHD(h): sshd and every open session on h die; nothing answers
//     until RestartSSHD(ctx, h), which waits for the new sshd.
//   - CutLink(h) / RestoreLink(h): h's veth goes down / up; packets vanish,
//     so dials and open connections time out rather than fail fast.
//   - Freeze(h) / Thaw(h): SIGSTOP / SIGCONT every process of h; the kernel
//     still accepts TCP connections, but no banner comes (a hanging
//     handshake) and open sessions stall.
//   - PowerOff(h) / PowerOn(ctx, h): a power cut and a boot. The link goes
//     down first (peers see packets vanish, no reset), then every process of
//     h dies at once; PowerOn boots it again from the disk it had (its overlay
//     and /var/lib/containerd; /run is empty) and waits for sshd.
//   - ChangeHostKey(ctx, h): a fresh host key and a restarted sshd; clients
//     using l.KnownHosts now see a changed key. TrustHostKeys() rewrites
//     known_hosts and ssh_config with the current keys.
//
// # Variants
//
// Light (default): sshd is PID 1 of fresh mount, pid, uts and ipc
// namespaces (util-linux unshare, entered into the host's netns with
// nsenter), chrooted into the host's root with its own /proc, /sys, /dev
// (device nodes and a private devpts) and /run. Up in well under a second
// per host. No systemd, so no services beyond sshd.
//
// Systemd (Options.Systemd): systemd-nspawn --boot with real systemd as
// PID 1 and sshd as ssh.service, for the Kubernetes proof. Every fix from
// the lab notes is built in: each host starts in its own cgroup below this
// process's cgroup in every hierarchy (cpuset copied first); a unit before
// sysinit remounts the cgroup v1 controllers and /proc/sys/net read-write
// and shadows kernel.panic, kernel.panic_on_oops, vm.overcommit_memory and
// vm.panic_on_oom with files, so the machine's kernel settings never change;
// /dev/kmsg is bound read-only; /var/lib/containerd is a plain directory
// (no overlay on overlay); --register=no --keep-unit because the machine
// runs no systemd.
//
// # Network
//
// Lab ID gets bridge plabID with 10.77.ID.1/24 in the root namespace; host
// N gets netns plabID-hN, a veth plabID-hN (root side, on the bridge) whose
// peer is eth0 inside with 10.77.ID.(10+N)/24, a route for the service
// range 10.96.0.0/12, and a default route via 10.77.ID.254, an address
// nobody holds: software that looks for a default interface finds eth0,
// yet nothing leaves the bridge. /etc/resolv.conf points at the same dead
// address (timeout 1s). /etc/hosts names every host of the lab (h1, plabID-h1).
//
// # Files and ids
//
// The rootfs is a debootstrapped Debian bookworm (minbase plus Packages)
// cached as CACHE/rootfs-KEY.tar, KEY a hash of the package list, and
// unpacked once into CACHE/base-KEY2 (the overlay lower dir shared
// read-only by every host). CACHE is $PLAN_LAB_CACHE or /var/cache/plan-lab;
// building takes an exclusive flock on CACHE/rootfs.lock, so parallel test
// packages build it once. The mirror is the one this machine's apt uses
// ($PLAN_LAB_MIRROR overrides).
//
// Lab ids (1..250) are claimed under an flock on /run/plan-lab/alloc.lock
// (claim files /run/plan-lab/labID.claim), so several labs (go test runs
// packages in parallel) coexist. Each lab's files are in DATA/labID
// (DATA: $PLAN_LAB_DIR or /var/lib/plan-lab): state.json, id_ed25519,
// known_hosts, ssh_config, plan-password and per host hN/{upper,work,root,
// containerd,console.log}.
//
// # Shaped links
//
// Options.Link (a linkem.Shape: latency each way, jitter, bandwidth) puts a
// user-space proxy built on Toxiproxy's toxics in front of every host, on
// the gateway address at port 2200+N; the ssh_config then names the proxy
// (HostName, Port) and the host's alias as HostKeyAlias, so every tool sees
// the same link. A persistent lab serves its proxies from a helper process
// (Options.LinkHelper, recorded as LinkProc; see ServeLinks), any other lab
// from the calling process. Close stops them first.
//
// # Teardown
//
// Close removes everything the lab made, from its recorded state: host
// processes by PID and start time (SIGKILL to each namespace's PID 1, which
// takes the whole host with it), mounts below the lab dir, network
// namespaces, veths, the bridge, cgroups, the lab dir and its claim. It
// works after a failed Up and from another process (Load(dir).Close(), as
// `plan lab down` does). A non-persistent lab whose process died without
// Close (a killed test) is torn down by the next Up on the machine.
package lab
