package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/plan-dev/plan/integration/lab/linkem"
	"github.com/plan-dev/plan/internal/atomicfile"
)

// DefaultDataDir holds one directory per lab (keys, known_hosts, ssh_config,
// state.json, the hosts' overlay layers) unless PLAN_LAB_DIR says otherwise.
const DefaultDataDir = "/var/lib/plan-lab"

// RunDir holds the machine-wide lab registry: alloc.lock and one claim file
// per lab id (labID.json). Lab ids are unique per machine because bridge,
// netns and address names derive from them.
const RunDir = "/run/plan-lab"

// MaxHosts bounds the hosts of one lab (addresses .11 to .250 of its /24).
const MaxHosts = 240

// maxID bounds lab ids: the third octet of 10.77.ID.0/24.
const maxID = 250

// ServiceRange gets a route in every host's netns: kube-proxy DNATs
// ClusterIPs only after a route lookup succeeds.
const ServiceRange = "10.96.0.0/12"

// testHookHostMade, when set by a test, runs after a host's namespace and
// root filesystem exist and before its process starts.
var testHookHostMade func(*Lab, *Host)

// Options shape a lab.
type Options struct {
	// Hosts is the number of hosts (default 1).
	Hosts int
	// Systemd boots each host with systemd-nspawn (real systemd as PID 1,
	// sshd as a unit). Otherwise sshd runs alone in a chroot (light).
	Systemd bool
	// Name labels the lab in `plan lab status` (default "test").
	Name string
	// Persistent labs outlive the process that made them (`plan lab up`).
	// A non-persistent lab whose process died without Close is torn down by
	// the next Up on the machine.
	Persistent bool
	// DataDir is where the lab's directory is made (default $PLAN_LAB_DIR
	// or DefaultDataDir). CacheDir holds the rootfs (default CacheDir()).
	DataDir, CacheDir string
	// ReadyTimeout bounds the wait for every sshd to answer (default 2 min).
	ReadyTimeout time.Duration
	// User is the login user the lab's ssh_config names: UserRoot (the
	// default), UserNopw (passwordless sudo, like Vagrant's vagrant user) or
	// UserPlan (sudo asks for Password()).
	User string
	// Host shapes each host's defaults after the operating system the
	// users run (the zero value keeps Debian's).
	Host HostProfile
	// Link shapes the path from clients to every host (latency, jitter,
	// bandwidth) with a user-space proxy per host (package linkem); the
	// ssh_config then points at the proxies. Zero: direct.
	Link linkem.Shape
	// LinkHelper is the command (argv; the lab's directory is appended)
	// that serves the proxies of a persistent lab with Link set, in a
	// process of its own that outlives Up's caller: `plan lab up` passes
	// itself with `lab serve-links` (see ServeLinks). A lab that is not
	// persistent serves them in this process.
	LinkHelper []string
	// Logf receives progress lines (may be nil).
	Logf func(format string, args ...any)
}

// HostProfile is how much a lab host looks like an Oracle Linux 8/9 server
// rather than a Debian one. Each part is what the plan's users meet first and
// a Debian host would hide.
type HostProfile struct {
	// OLSudoers replaces /etc/sudoers with Oracle Linux 9's: env_reset and a
	// secure_path without /usr/local/bin (Debian's has it), so a sudo
	// command finds no tool installed there by bare name.
	OLSudoers bool `json:"ol_sudoers,omitempty"`
	// Firewalld runs firewalld (nftables backend, default zone public: ssh
	// only) from boot. Systemd variant only.
	Firewalld bool `json:"firewalld,omitempty"`
	// NetworkManager runs NetworkManager from boot with a keyfile profile
	// for eth0 (the lab's static address and routes), as an installed OL
	// server has. Systemd variant only.
	NetworkManager bool `json:"network_manager,omitempty"`
}

// OracleLinuxLike is every part of HostProfile: the hosts the scratch plan's
// users have (OL9 installed from its ISO or a Vagrant box), as close as a
// Debian root filesystem gets.
func OracleLinuxLike() HostProfile {
	return HostProfile{OLSudoers: true, Firewalld: true, NetworkManager: true}
}

// String names the profile's parts for logs and `plan lab status`.
func (p HostProfile) String() string {
	var parts []string
	if p.OLSudoers {
		parts = append(parts, "ol-sudoers")
	}
	if p.Firewalld {
		parts = append(parts, "firewalld")
	}
	if p.NetworkManager {
		parts = append(parts, "networkmanager")
	}
	if len(parts) == 0 {
		return "debian"
	}
	return strings.Join(parts, ",")
}

// Lab is a set of hosts on one private bridge. Its exported fields are also
// its state file (DIR/state.json), which `plan lab down` reads.
type Lab struct {
	ID         int       `json:"id"`
	Name       string    `json:"name"`
	Systemd    bool      `json:"systemd"`
	Persistent bool      `json:"persistent"`
	Owner      Proc      `json:"owner"` // the process whose exit makes a non-persistent lab stale
	Created    time.Time `json:"created"`
	Dir        string    `json:"dir"`
	Base       string    `json:"base"`   // overlay lower dir shared by every host
	Bridge     string    `json:"bridge"` // plabID
	Gateway    string    `json:"gateway"`
	// User is the login user of the lab's ssh_config (Options.User).
	User    string      `json:"user"`
	Profile HostProfile `json:"profile"`
	Hosts   []*Host     `json:"hosts"`
	// ClientKey is the private key (OpenSSH format) that logs in as root,
	// plan and nopw on every host; KnownHosts holds every host's key and
	// SSHConfig an ssh_config with one Host block per host.
	ClientKey    string `json:"client_key"`
	KnownHosts   string `json:"known_hosts"`
	SSHConfig    string `json:"ssh_config"`
	PasswordFile string `json:"password_file"` // the plan user's sudo password (0600)
	// Link is how the clients' path to every host is shaped (zero: not);
	// LinkProc the helper process serving a persistent lab's proxies.
	Link     linkem.Shape `json:"link"`
	LinkProc Proc         `json:"link_proc"`

	mu      sync.Mutex
	logf    func(string, ...any)
	proxies []*linkem.Proxy // served by this process (a lab that is not persistent)
}

// Host is one lab host.
type Host struct {
	Name    string   `json:"name"`  // hostname inside: h1, h2, ...
	Alias   string   `json:"alias"` // ssh_config Host name: plabID-hN
	Address string   `json:"address"`
	Port    int      `json:"port"`
	Netns   string   `json:"netns"` // plabID-hN (/run/netns/...)
	Veth    string   `json:"veth"`  // root-side end of the host's veth pair
	Dir     string   `json:"dir"`
	Root    string   `json:"root"`     // the host's root filesystem (overlay mount)
	HostKey string   `json:"host_key"` // public host key, authorized_keys form
	Proc    Proc     `json:"proc"`     // unshare (light) or systemd-nspawn (systemd)
	Cgroups []string `json:"cgroups,omitempty"`
	// Proxy is the address of the host's link proxy (gateway:port) when the
	// lab shapes links; the ssh_config's HostName and Port name it.
	Proxy string `json:"proxy,omitempty"`
}

// Users on every host.
const (
	UserRoot = "root" // by key
	UserPlan = "plan" // by key; sudo asks for Lab.Password()
	UserNopw = "nopw" // by key; passwordless sudo
)

func (o *Options) defaults() {
	if o.Hosts <= 0 {
		o.Hosts = 1
	}
	if o.Name == "" {
		o.Name = "test"
	}
	if o.DataDir == "" {
		o.DataDir = os.Getenv("PLAN_LAB_DIR")
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.CacheDir == "" {
		o.CacheDir = CacheDir()
	}
	if o.User == "" {
		o.User = UserRoot
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Up builds (or reuses) the cached rootfs, allocates a lab id and brings up
// opts.Hosts hosts, returning once every sshd answers. On error everything
// made so far is torn down.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	opts.defaults()
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: needs root (network namespaces, mounts)")
	}
	if opts.Hosts > MaxHosts {
		return nil, fmt.Errorf("lab: at most %d hosts", MaxHosts)
	}
	switch opts.User {
	case UserRoot, UserPlan, UserNopw:
	default:
		return nil, fmt.Errorf("lab: login user %q: want %s, %s or %s", opts.User, UserRoot, UserNopw, UserPlan)
	}
	if (opts.Host.Firewalld || opts.Host.NetworkManager) && !opts.Systemd {
		return nil, fmt.Errorf("lab: firewalld and NetworkManager run as systemd units: they need the systemd variant")
	}
	if err := opts.Link.Validate(); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if opts.Persistent && !opts.Link.IsZero() && len(opts.LinkHelper) == 0 {
		return nil, errors.New("lab: a persistent lab with shaped links needs Options.LinkHelper")
	}
	if opts.Systemd {
		if _, err := exec.LookPath("systemd-nspawn"); err != nil {
			return nil, fmt.Errorf("lab: the systemd variant needs systemd-nspawn (apt-get install systemd-container): %w", err)
		}
	}
	base, err := EnsureBase(ctx, opts.CacheDir, opts.Logf)
	if err != nil {
		return nil, err
	}
	l, err := allocate(ctx, opts)
	if err != nil {
		return nil, err
	}
	l.Base = base
	if err := l.up(ctx, opts); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = fmt.Errorf("%w (and teardown: %v)", err, cerr)
		}
		return nil, err
	}
	return l, nil
}

func (l *Lab) up(ctx context.Context, opts Options) error {
	start := time.Now()
	if err := l.save(); err != nil {
		return err
	}
	if err := l.writeClientFiles(); err != nil {
		return err
	}
	if err := run(ctx, "ip", "link", "add", l.Bridge, "type", "bridge"); err != nil {
		return fmt.Errorf("lab: bridge: %w", err)
	}
	for _, args := range [][]string{
		{"addr", "add", l.Gateway + "/24", "dev", l.Bridge},
		{"link", "set", l.Bridge, "up"},
	} {
		if err := run(ctx, "ip", args...); err != nil {
			return fmt.Errorf("lab: bridge: %w", err)
		}
	}
	password, err := l.Password()
	if err != nil {
		return err
	}
	hash, err := shadowHash(password)
	if err != nil {
		return fmt.Errorf("lab: hash plan's password: %w", err)
	}
	for _, h := range l.Hosts {
		if err := l.makeHost(ctx, h, hash); err != nil {
			return fmt.Errorf("lab: host %s: %w", h.Name, err)
		}
		if testHookHostMade != nil {
			testHookHostMade(l, h)
		}
		if err := l.start(ctx, h); err != nil {
			return fmt.Errorf("lab: host %s: %w", h.Name, err)
		}
		if err := l.save(); err != nil {
			return err
		}
	}
	if err := l.TrustHostKeys(); err != nil {
		return err
	}
	ready, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	for _, h := range l.Hosts {
		if err := l.WaitSSH(ready, h); err != nil {
			return err
		}
	}
	if err := l.startLinks(ready, opts); err != nil {
		return err
	}
	l.logf("lab %d: %d host(s) up in %s (%s)", l.ID, len(l.Hosts), time.Since(start).Round(10*time.Millisecond), l.variant())
	return nil
}

func (l *Lab) variant() string {
	if l.Systemd {
		return "systemd"
	}
	return "light"
}

// Host returns the host with the given name (h1) or alias (plab3-h1).
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts {
		if h.Name == name || h.Alias == name {
			return h
		}
	}
	return nil
}

// Password returns the plan user's sudo password (test material: never log it).
func (l *Lab) Password() (string, error) {
	b, err := os.ReadFile(l.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("lab: read plan's password: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Signer returns the lab's client key for golang.org/x/crypto/ssh.
func (l *Lab) Signer() (ssh.Signer, error) {
	b, err := os.ReadFile(l.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("lab: read client key: %w", err)
	}
	return ssh.ParsePrivateKey(b)
}

// HostPublicKey parses h's current host key.
func (h *Host) HostPublicKey() (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
	return k, err
}

// Addr is host:port for dialing.
func (h *Host) Addr() string { return net.JoinHostPort(h.Address, strconv.Itoa(h.Port)) }

// allocate claims the lowest free lab id under RunDir/alloc.lock, reclaiming
// ids of non-persistent labs whose owner process is gone.
func allocate(ctx context.Context, opts Options) (*Lab, error) {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(RunDir, "alloc.lock"))
	if err != nil {
		return nil, fmt.Errorf("lab: lock lab registry: %w", err)
	}
	defer unlock()
	for id := 1; id <= maxID; id++ {
		claim := claimPath(id)
		if _, err := os.Stat(claim); err == nil {
			if !reclaimStale(id, opts.Logf) {
				continue
			}
		}
		if linkExists(fmt.Sprintf("plab%d", id)) {
			continue // not ours by any record: leave it alone, take another id
		}
		l := newLab(id, opts)
		if err := removeTree(l.Dir); err != nil { // a leftover from before a reboot
			continue
		}
		if err := os.MkdirAll(l.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		if err := os.WriteFile(claim, []byte(l.Dir+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("lab: claim id %d: %w", id, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("lab: all %d lab ids are in use (plan lab status; plan lab down --all)", maxID)
}

func claimPath(id int) string { return filepath.Join(RunDir, fmt.Sprintf("lab%d.claim", id)) }

// reclaimStale tears down the lab holding id if its owner is gone and it is
// not persistent. It reports whether the id is free now.
func reclaimStale(id int, logf func(string, ...any)) bool {
	b, err := os.ReadFile(claimPath(id))
	if err != nil {
		return false
	}
	dir := strings.TrimSpace(string(b))
	l, err := Load(dir)
	if err != nil {
		// Claimed but no state: a lab that died before its first save, or
		// one still being made. Only a claim older than a minute is stale.
		if st, serr := os.Stat(claimPath(id)); serr == nil && time.Since(st.ModTime()) > time.Minute && !linkExists(fmt.Sprintf("plab%d", id)) {
			_ = os.Remove(claimPath(id))
			return true
		}
		return false
	}
	if l.Persistent || l.Owner.Alive() {
		return false
	}
	logf("lab: tearing down stale lab %d (%s) left by process %d", id, dir, l.Owner.PID)
	if err := l.Close(); err != nil {
		logf("lab: stale lab %d: %v", id, err)
		return false
	}
	return true
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func newLab(id int, opts Options) *Lab {
	dir := filepath.Join(opts.DataDir, fmt.Sprintf("lab%d", id))
	l := &Lab{
		ID: id, Name: opts.Name, Systemd: opts.Systemd, Persistent: opts.Persistent,
		User: opts.User, Profile: opts.Host,
		Created: time.Now().UTC(), Dir: dir,
		Bridge:       fmt.Sprintf("plab%d", id),
		Gateway:      fmt.Sprintf("10.77.%d.1", id),
		ClientKey:    filepath.Join(dir, "id_ed25519"),
		KnownHosts:   filepath.Join(dir, "known_hosts"),
		SSHConfig:    filepath.Join(dir, "ssh_config"),
		PasswordFile: filepath.Join(dir, "plan-password"),
		Link:         opts.Link,
		logf:         opts.Logf,
	}
	if !opts.Persistent {
		l.Owner = procOf(os.Getpid())
	}
	for n := 1; n <= opts.Hosts; n++ {
		name := fmt.Sprintf("h%d", n)
		hdir := filepath.Join(dir, name)
		l.Hosts = append(l.Hosts, &Host{
			Name:    name,
			Alias:   fmt.Sprintf("plab%d-%s", id, name),
			Address: fmt.Sprintf("10.77.%d.%d", id, 10+n),
			Port:    22,
			Netns:   fmt.Sprintf("plab%d-%s", id, name),
			Veth:    fmt.Sprintf("plab%d-%s", id, name),
			Dir:     hdir,
			Root:    filepath.Join(hdir, "root"),
		})
	}
	l.setLinkAddrs()
	return l
}

// Load reads a lab's state from its directory (for `plan lab down/status`
// and for reclaiming stale labs).
func Load(dir string) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("lab: read state: %w", err)
	}
	l := &Lab{logf: func(string, ...any) {}}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("lab: parse %s/state.json: %w", dir, err)
	}
	return l, nil
}

// List returns every lab registered on this machine, by id.
func List() ([]*Lab, error) {
	var labs []*Lab
	for id := 1; id <= maxID; id++ {
		b, err := os.ReadFile(claimPath(id))
		if err != nil {
			continue
		}
		l, err := Load(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		labs = append(labs, l)
	}
	return labs, nil
}

// SetLogf directs progress lines of a loaded lab.
func (l *Lab) SetLogf(f func(string, ...any)) { l.logf = f }

func (l *Lab) save() error {
	l.mu.Lock()
	b, err := json.MarshalIndent(l, "", "  ")
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("lab: encode state: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(l.Dir, "state.json"), b, 0o600); err != nil {
		return fmt.Errorf("lab: write state: %w", err)
	}
	return nil
}

// writeClientFiles makes the client key and the plan user's password.
func (l *Lab) writeClientFiles() error {
	priv, pub, err := newKeyPair(fmt.Sprintf("plan-lab%d", l.ID))
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.WriteFile(l.ClientKey, priv, 0o600); err != nil {
		return fmt.Errorf("lab: write client key: %w", err)
	}
	if err := os.WriteFile(l.ClientKey+".pub", []byte(authorizedLine(pub, fmt.Sprintf("plan-lab%d", l.ID))), 0o644); err != nil {
		return fmt.Errorf("lab: write client key: %w", err)
	}
	password, err := randomPassword()
	if err != nil {
		return fmt.Errorf("lab: password: %w", err)
	}
	if err := os.WriteFile(l.PasswordFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("lab: write password: %w", err)
	}
	return nil
}

// makeHost creates the host's network namespace, veth and root filesystem.
func (l *Lab) makeHost(ctx context.Context, h *Host, passwordHash string) error {
	gatewayless := fmt.Sprintf("10.77.%d.254", l.ID)
	steps := [][]string{
		{"netns", "add", h.Netns},
		{"link", "add", h.Veth, "type", "veth", "peer", "name", "eth0", "netns", h.Netns},
		{"link", "set", h.Veth, "master", l.Bridge, "up"},
		{"-n", h.Netns, "addr", "add", h.Address + "/24", "dev", "eth0"},
		{"-n", h.Netns, "link", "set", "lo", "up"},
		{"-n", h.Netns, "link", "set", "eth0", "up"},
		// A default route to an address nobody holds: software that looks
		// for "the default interface" (kubelet, flannel) finds eth0, while
		// nothing can leave the bridge (ARP for .254 never resolves).
		{"-n", h.Netns, "route", "add", "default", "via", gatewayless, "dev", "eth0"},
		{"-n", h.Netns, "route", "add", ServiceRange, "dev", "eth0"},
	}
	for _, args := range steps {
		if err := run(ctx, "ip", args...); err != nil {
			return err
		}
	}
	upper, work := filepath.Join(h.Dir, "upper"), filepath.Join(h.Dir, "work")
	for _, d := range []string{upper, work, h.Root, filepath.Join(h.Dir, "containerd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", l.Base, upper, work)
	if err := syscall.Mount("overlay", h.Root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", h.Root, err)
	}
	return l.writeHostFiles(h, passwordHash)
}

// writeHostFiles writes what differs per host into its overlay.
func (l *Lab) writeHostFiles(h *Host, passwordHash string) error {
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, o := range l.Hosts {
		fmt.Fprintf(&hosts, "%s\t%s %s\n", o.Address, o.Name, o.Alias)
	}
	machineID := make([]byte, 16)
	if _, err := rand.Read(machineID); err != nil {
		return err
	}
	files := map[string]string{
		"etc/hostname":   h.Name + "\n",
		"etc/hosts":      hosts.String(),
		"etc/machine-id": hex.EncodeToString(machineID) + "\n",
		// The nameserver is the unreachable .254: lookups of outside names
		// fail within a second; CoreDNS still has an upstream to forward to.
		"etc/resolv.conf": fmt.Sprintf("nameserver 10.77.%d.254\noptions timeout:1 attempts:1\n", l.ID),
	}
	for rel, content := range files {
		p := filepath.Join(h.Root, rel)
		_ = os.Remove(p) // may be a symlink in the base
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := l.writeHostKey(h); err != nil {
		return err
	}
	pub, err := os.ReadFile(l.ClientKey + ".pub")
	if err != nil {
		return err
	}
	for _, user := range []string{UserRoot, UserPlan, UserNopw} {
		home, uid, gid, err := lookupUser(filepath.Join(h.Root, "etc/passwd"), user)
		if err != nil {
			return err
		}
		p := filepath.Join(h.Root, home, ".ssh", "authorized_keys")
		if err := os.WriteFile(p, pub, 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	if err := setShadowPassword(filepath.Join(h.Root, "etc/shadow"), UserPlan, passwordHash); err != nil {
		return err
	}
	return l.writeProfileFiles(h)
}

// writeHostKey gives h a fresh ed25519 host key.
func (l *Lab) writeHostKey(h *Host) error {
	priv, pub, err := newKeyPair("root@" + h.Name)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(h.Root, "etc/ssh/ssh_host_ed25519_key")
	if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
		return err
	}
	line := authorizedLine(pub, "root@"+h.Name)
	if err := os.WriteFile(keyPath+".pub", []byte(line), 0o644); err != nil {
		return err
	}
	l.mu.Lock()
	h.HostKey = strings.TrimSpace(line)
	l.mu.Unlock()
	return nil
}

// lookupUser reads home, uid and gid from a passwd file.
func lookupUser(passwd, user string) (home string, uid, gid int, err error) {
	f, err := os.Open(passwd)
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Split(sc.Text(), ":")
		if len(fl) >= 7 && fl[0] == user {
			uid, _ = strconv.Atoi(fl[2])
			gid, _ = strconv.Atoi(fl[3])
			return fl[5], uid, gid, nil
		}
	}
	return "", 0, 0, fmt.Errorf("no user %s in %s", user, passwd)
}

// TrustHostKeys rewrites KnownHosts and SSHConfig from the hosts' current
// keys (after ChangeHostKey, call it to accept the new key).
func (l *Lab) TrustHostKeys() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var kh, cfg strings.Builder
	fmt.Fprintf(&cfg, "# plan lab %d (%s): ssh -F %s %s\n", l.ID, l.variant(), l.SSHConfig, l.Hosts[0].Alias)
	for _, h := range l.Hosts {
		fields := strings.Fields(h.HostKey)
		if len(fields) < 2 {
			continue
		}
		fmt.Fprintf(&kh, "%s,%s %s %s\n", h.Alias, h.Address, fields[0], fields[1])
		hostName, port := h.Address, strconv.Itoa(h.Port)
		alias := ""
		if h.Proxy != "" {
			// Through the link proxy; the host's key stays under its alias
			// (looked up without the port, as OpenSSH does for HostKeyAlias).
			hostName, port, _ = net.SplitHostPort(h.Proxy)
			alias = "  HostKeyAlias " + h.Alias + "\n"
		}
		fmt.Fprintf(&cfg, "\nHost %s\n  HostName %s\n  Port %s\n%s  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  ConnectTimeout 10\n",
			h.Alias, hostName, port, alias, l.loginUser(), l.ClientKey, l.KnownHosts)
	}
	if err := os.WriteFile(l.KnownHosts, []byte(kh.String()), 0o644); err != nil {
		return fmt.Errorf("lab: write known_hosts: %w", err)
	}
	if err := os.WriteFile(l.SSHConfig, []byte(cfg.String()), 0o644); err != nil {
		return fmt.Errorf("lab: write ssh_config: %w", err)
	}
	return nil
}

// WaitSSH waits until h's sshd sends its banner, failing early when the
// host's process has died.
func (l *Lab) WaitSSH(ctx context.Context, h *Host) error {
	for {
		if sshBanner(ctx, h.Addr()) {
			return nil
		}
		l.mu.Lock()
		p := h.Proc
		l.mu.Unlock()
		if !p.Alive() {
			return fmt.Errorf("lab: host %s: its process exited before sshd answered; log: %s", h.Name, l.tail(h))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: host %s: sshd on %s did not answer: %w; log: %s", h.Name, h.Addr(), ctx.Err(), l.tail(h))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sshBanner reports whether addr answers with an SSH banner.
func sshBanner(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

func (l *Lab) tail(h *Host) string {
	b, _ := os.ReadFile(filepath.Join(h.Dir, "console.log"))
	s := strings.TrimSpace(string(b))
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// SSHAnswers reports whether addr answers with an SSH banner within timeout.
func SSHAnswers(addr string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return sshBanner(ctx, addr)
}
