package hosts

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HostKeyPolicy is StrictHostKeyChecking.
type HostKeyPolicy string

const (
	// HostKeyStrict refuses unknown keys (OpenSSH "yes"; "ask" maps here,
	// because plan runs unattended).
	HostKeyStrict HostKeyPolicy = "yes"
	// HostKeyAcceptNew records unknown keys and refuses changed ones.
	HostKeyAcceptNew HostKeyPolicy = "accept-new"
	// HostKeyDangerousAcceptAny ("no") records unknown keys; a changed key
	// is still refused (unlike OpenSSH, which would go on without
	// password auth).
	HostKeyDangerousAcceptAny HostKeyPolicy = "no"
)

// Endpoint is everything needed to reach one host, fully resolved.
type Endpoint struct {
	Name     string // as the plan names it (inventory.Spec.Name)
	HostName string // address to dial
	Port     int
	User     string
	// IdentityFiles are tried in order after the agent's keys.
	IdentityFiles []string
	// CertificateFiles are user certificates (CertificateFile) offered
	// with the identity whose key they certify; KEY-cert.pub beside an
	// IdentityFile is found without being listed.
	CertificateFiles []string
	// IdentitiesOnly: use only IdentityFiles, even when the agent has more.
	IdentitiesOnly bool
	// IdentityAgent is the agent socket ("" = $SSH_AUTH_SOCK, "none" = off).
	IdentityAgent string
	// ProxyJump is the raw ssh_config value ("" or "none" = direct);
	// Jump is the hop just before this host, resolved (it may have its own).
	ProxyJump string
	Jump      *Endpoint
	// ProxyCommand, when set (and no ProxyJump), is run with /bin/sh and
	// carries the connection on its stdin/stdout; tokens already expanded.
	ProxyCommand string
	// HostKeyAlias, when set, is the name looked up and recorded in
	// known_hosts, alone: without the port, as OpenSSH does.
	HostKeyAlias string
	// CheckHostIP: also check (and record) the key under the server's IP
	// address, as OpenSSH's CheckHostIP (off by default since 8.5), which
	// turns itself off for loopback addresses, jump hosts and
	// ProxyCommand, and when HostName is the address already.
	CheckHostIP           bool
	StrictHostKeyChecking HostKeyPolicy
	// HashKnownHosts: keys accepted under accept-new are recorded hashed.
	HashKnownHosts        bool
	UserKnownHostsFiles   []string
	GlobalKnownHostsFiles []string
	// PasswordAuthentication false disables the password method.
	PasswordAuthentication bool
	// ConnectTimeout bounds the TCP connect and the SSH handshake (0 = the
	// transport's default).
	ConnectTimeout      time.Duration
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	// Source says where the values came from: "ssh -G", "ssh_config",
	// "vagrant".
	Source string
}

// Addr is host:port for dialing.
func (e *Endpoint) Addr() string {
	return net.JoinHostPort(e.HostName, strconv.Itoa(e.Port))
}

// Destination is "user@host" (or "host" without a user).
func (e *Endpoint) Destination() string {
	h := e.HostName
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if e.User == "" {
		return h
	}
	return e.User + "@" + h
}

// SSHArgs are the arguments of the `ssh` command that reaches this host
// without ssh_config, without the remote command; they end with "--" and
// the destination.
func (e *Endpoint) SSHArgs() []string {
	var a []string
	if e.Port != 0 && e.Port != 22 {
		a = append(a, "-p", strconv.Itoa(e.Port))
	}
	if e.ExplicitIdentity() {
		for _, f := range e.IdentityFiles {
			a = append(a, "-i", f)
		}
		if e.IdentitiesOnly {
			a = append(a, "-o", "IdentitiesOnly=yes")
		}
	}
	for _, f := range e.CertificateFiles {
		a = append(a, "-o", "CertificateFile="+f)
	}
	if e.Jump != nil && e.Jump.needsOwnOptions() {
		// ssh -J would reach the hops with plain defaults: spell the
		// hop's options out in a ProxyCommand instead.
		hop := e.Jump.SSHArgs() // ... -- DEST
		hop = append(hop[:len(hop)-2:len(hop)-2], "-W", "%h:%p", "--", hop[len(hop)-1])
		q := make([]string, len(hop))
		for i, s := range hop {
			q[i] = ShellQuote(s)
		}
		a = append(a, "-o", "ProxyCommand=ssh "+strings.Join(q, " "))
	} else if e.Jump != nil {
		a = append(a, "-J", e.jumpChain())
	} else if e.ProxyCommand != "" {
		a = append(a, "-o", "ProxyCommand="+e.ProxyCommand)
	}
	if e.StrictHostKeyChecking != "" && e.StrictHostKeyChecking != HostKeyStrict {
		a = append(a, "-o", "StrictHostKeyChecking="+string(e.StrictHostKeyChecking))
	}
	if len(e.UserKnownHostsFiles) > 0 && !isDefaultKnownHosts(e.UserKnownHostsFiles) {
		a = append(a, "-o", "UserKnownHostsFile="+strings.Join(e.UserKnownHostsFiles, " "))
	}
	if e.HostKeyAlias != "" {
		a = append(a, "-o", "HostKeyAlias="+e.HostKeyAlias)
	}
	if e.CheckHostIP {
		a = append(a, "-o", "CheckHostIP=yes")
	}
	// "--": whatever the destination holds, ssh reads no option from it.
	return append(a, "--", e.Destination())
}

// ExplicitIdentity reports whether IdentityFiles are something other than
// OpenSSH's default keys (which `ssh` finds by itself).
func (e *Endpoint) ExplicitIdentity() bool {
	for _, f := range e.IdentityFiles {
		if filepath.Base(filepath.Dir(f)) != ".ssh" || !isDefaultKeyName(filepath.Base(f)) {
			return true
		}
	}
	return false
}

func isDefaultKeyName(name string) bool {
	for _, d := range defaultIdentityFiles {
		if filepath.Base(d) == name {
			return true
		}
	}
	return false
}

// needsOwnOptions reports whether this hop, or one before it, cannot be
// reached with `ssh -J user@host:port` alone (which applies no command-line
// options to hops).
func (e *Endpoint) needsOwnOptions() bool {
	for j := e; j != nil; j = j.Jump {
		if j.ExplicitIdentity() || len(j.CertificateFiles) > 0 || j.ProxyCommand != "" || j.HostKeyAlias != "" ||
			(j.StrictHostKeyChecking != "" && j.StrictHostKeyChecking != HostKeyStrict) ||
			(len(j.UserKnownHostsFiles) > 0 && !isDefaultKnownHosts(j.UserKnownHostsFiles)) {
			return true
		}
	}
	return false
}

// jumpChain renders the hops before e as ssh -J wants them: "a,b".
func (e *Endpoint) jumpChain() string {
	var hops []string
	for j := e.Jump; j != nil; j = j.Jump {
		hop := j.Destination()
		if j.Port != 0 && j.Port != 22 {
			hop += ":" + strconv.Itoa(j.Port)
		}
		hops = append([]string{hop}, hops...)
	}
	return strings.Join(hops, ",")
}

// SSHCommand is the `ssh` command line a human would type to reach the host
// and run cmd (cmd may be empty), shell-quoted.
func (e *Endpoint) SSHCommand(cmd string) string {
	args := append([]string{"ssh"}, e.SSHArgs()...)
	if cmd != "" {
		args = append(args, cmd)
	}
	q := make([]string, len(args))
	for i, s := range args {
		q[i] = ShellQuote(s)
	}
	return strings.Join(q, " ")
}

// ShellQuote quotes s for a POSIX shell; safe words are left alone.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("@%_-+=:,./", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// defaultIdentityFiles are the keys OpenSSH tries when ssh_config names
// none.
var defaultIdentityFiles = []string{"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
	"~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa"}

// isDefaultKnownHosts reports whether files are ~/.ssh/known_hosts{,2},
// which `ssh` reads without being told.
func isDefaultKnownHosts(files []string) bool {
	for _, f := range files {
		base := filepath.Base(f)
		if base != "known_hosts" && base != "known_hosts2" || filepath.Base(filepath.Dir(f)) != ".ssh" {
			return false
		}
	}
	return true
}

// DefaultIdentityFiles returns the keys OpenSSH tries when ssh_config names
// none (~/.ssh/id_rsa, ...), unexpanded: the inventory fills
// Endpoint.IdentityFiles with them, and SSHCommand leaves them out of the
// command line because `ssh` finds them by itself.
func DefaultIdentityFiles() []string {
	return append([]string(nil), defaultIdentityFiles...)
}

// MaxJumpDepth is how many ProxyJump hops an Endpoint may have: the
// inventory resolves no deeper and Dial dials no deeper.
const MaxJumpDepth = 8

// LocalUserName is the user plan runs as: the default remote user, as in
// ssh, and the %u of ssh_config tokens.
func LocalUserName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}
