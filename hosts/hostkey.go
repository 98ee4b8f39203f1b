package hosts

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsMu serializes appends to known_hosts files within this process.
var knownHostsMu sync.Mutex

// hostKeyChecker verifies a server's key against the endpoint's known_hosts
// files (user files first, then global; hashed entries, @cert-authority and
// @revoked as x/crypto/ssh/knownhosts reads them) under its policy.
type hostKeyChecker struct {
	ep       *Endpoint
	policy   HostKeyPolicy
	files    []string // existing files, in order
	writeTo  string   // where accepted keys are recorded
	callback ssh.HostKeyCallback
	// lookup is the name known_hosts knows the host by, as host:port for
	// knownhosts (port 22 stands for "no port": the alias alone).
	lookup string
	// checkIP: CheckHostIP applies to this connection (see ipLookup).
	checkIP bool
	// caKeys are the @cert-authority keys: knownhosts reports them among
	// the "wanted" keys of a host, but a plain key that is not one of
	// them is unknown, not changed.
	caKeys map[string]bool
	// badRevoked lists the @revoked lines whose key cannot be read
	// (FILE:LINE: why). x/crypto's knownhosts skips them, so they would
	// revoke nothing; any of them makes every key refused instead.
	badRevoked []string
}

func newHostKeyChecker(ep *Endpoint, acceptNew bool) (*hostKeyChecker, error) {
	c := &hostKeyChecker{ep: ep, policy: ep.StrictHostKeyChecking}
	if c.policy == "" {
		c.policy = HostKeyStrict
	}
	if acceptNew && c.policy == HostKeyStrict {
		c.policy = HostKeyAcceptNew
	}
	for _, f := range append(append([]string{}, ep.UserKnownHostsFiles...), ep.GlobalKnownHostsFiles...) {
		if _, err := os.Stat(f); err == nil {
			c.files = append(c.files, f)
		}
	}
	if len(ep.UserKnownHostsFiles) > 0 {
		c.writeTo = ep.UserKnownHostsFiles[0]
	}
	c.lookup = net.JoinHostPort(ep.HostName, strconv.Itoa(ep.Port))
	if ep.HostKeyAlias != "" {
		// OpenSSH looks the alias up, and records it, without the port:
		// that is what an alias is for (port-forwarded hosts, bastions).
		c.lookup = net.JoinHostPort(ep.HostKeyAlias, "22")
	}
	// As OpenSSH: through a jump host or a ProxyCommand the address is
	// not the server's, so CheckHostIP does not apply.
	c.checkIP = ep.CheckHostIP && ep.Jump == nil && ep.ProxyCommand == ""
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *hostKeyChecker) reload() error {
	if len(c.files) == 0 {
		c.callback = nil
		return nil
	}
	c.caKeys = map[string]bool{}
	c.badRevoked = nil
	for _, f := range c.files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for n, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "@revoked"); ok {
				if err := readableRevocation(rest); err != nil {
					c.badRevoked = append(c.badRevoked, fmt.Sprintf("%s:%d: %v", f, n+1, err))
				}
				continue
			}
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "@cert-authority")
			if !ok {
				continue
			}
			fields := strings.Fields(rest)
			if len(fields) < 3 {
				continue
			}
			if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.Join(fields[1:], " "))); err == nil {
				c.caKeys[string(k.Marshal())] = true
			}
		}
	}
	cb, err := knownhosts.New(c.files...)
	if err != nil {
		return fmt.Errorf("read known_hosts: %w", err)
	}
	c.callback = cb
	return nil
}

// readableRevocation checks what follows "@revoked" on a known_hosts
// line as x/crypto's knownhosts reads it: host patterns, key type, base64
// key of that type.
func readableRevocation(rest string) error {
	fields := strings.Fields(rest)
	if len(fields) < 3 {
		return errors.New("@revoked line without host patterns, key type and key")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[2])
	if err != nil {
		return fmt.Errorf("@revoked key is not base64: %w", err)
	}
	k, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return fmt.Errorf("@revoked key of type %q cannot be read: %w", fields[1], err)
	}
	if k.Type() != fields[1] {
		return fmt.Errorf("@revoked key is %s, the line says %s", k.Type(), fields[1])
	}
	return nil
}

// knownKeyAlgorithms lists the key types known_hosts has for this host, so
// the client asks the server for those first (as OpenSSH does); otherwise a
// server offering another key type would look like a changed key.
func (c *hostKeyChecker) knownKeyAlgorithms() []string {
	if c.callback == nil {
		return nil
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(c.callback(c.lookup, dummyAddr(c.lookup), probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		types := algorithmsForKeyType(k.Key.Type())
		if c.caKeys[string(k.Key.Marshal())] {
			types = certAlgorithms
		}
		for _, a := range types {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

var certAlgorithms = []string{ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01,
	ssh.CertAlgoECDSA521v01, ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}

// plainWanted drops CA keys from a KeyError's wanted keys.
func (c *hostKeyChecker) plainWanted(want []knownhosts.KnownKey) []knownhosts.KnownKey {
	var out []knownhosts.KnownKey
	for _, k := range want {
		if !c.caKeys[string(k.Key.Marshal())] {
			out = append(out, k)
		}
	}
	return out
}

func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

func dummyAddr(hostport string) net.Addr {
	h, p, _ := net.SplitHostPort(hostport)
	port, _ := strconv.Atoi(p)
	return &net.TCPAddr{IP: net.ParseIP(h), Port: port}
}

// hostKeyStatus is what known_hosts says of a key under one name.
type hostKeyStatus int

const (
	keyOK hostKeyStatus = iota
	keyNew
	keyChanged
)

// status looks key up under name (host:port) and returns the error that
// refuses it when it is revoked or another key is recorded.
func (c *hostKeyChecker) status(name string, remote net.Addr, key ssh.PublicKey) (hostKeyStatus, *knownhosts.KnownKey, error) {
	if c.callback == nil {
		return keyNew, nil, nil
	}
	err := c.callback(name, remote, key)
	if err == nil {
		return keyOK, nil, nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return keyChanged, nil, fmt.Errorf("%w: host %s presented the REVOKED key %s (%s)", ErrHostKeyChanged, name, ssh.FingerprintSHA256(key), re.Revoked.Filename)
	case errors.As(err, &ke) && len(c.plainWanted(ke.Want)) > 0:
		w := c.plainWanted(ke.Want)[0]
		return keyChanged, &w, nil
	case errors.As(err, &ke):
		return keyNew, nil, nil
	default:
		return keyChanged, nil, fmt.Errorf("check host key of %s: %w", name, err)
	}
}

// ipLookup is the name of the server's address in known_hosts when
// CheckHostIP applies to remote, as OpenSSH decides: not for a loopback
// address, nor when HostName is that name already.
func (c *hostKeyChecker) ipLookup(remote net.Addr) (string, bool) {
	ta, ok := remote.(*net.TCPAddr)
	if !c.checkIP || !ok || ta.IP == nil || ta.IP.IsLoopback() {
		return "", false
	}
	name := net.JoinHostPort(ta.IP.String(), strconv.Itoa(c.ep.Port))
	// The host's own name already (HostName is the address, no alias):
	// one lookup, one name recorded.
	if n := knownhosts.Normalize(name); n == c.ep.HostName || n == knownhosts.Normalize(c.lookup) {
		return "", false
	}
	return name, true
}

// check is the ssh.HostKeyCallback.
func (c *hostKeyChecker) check(_ string, remote net.Addr, key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	if len(c.badRevoked) > 0 {
		return fmt.Errorf("%w: %s presented %s; known_hosts has a revocation plan cannot read (%s), which may be "+
			"of this very key, so no key is trusted until that line is fixed or removed",
			ErrHostKeyChanged, c.lookup, fp, strings.Join(c.badRevoked, "; "))
	}
	host, w, err := c.status(c.lookup, remote, key)
	if err != nil {
		return err
	}
	if host == keyChanged {
		return fmt.Errorf("%w: WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for %s: it presented %s %s, "+
			"but %s:%d records %s %s. Someone could be intercepting the connection, or the host was reinstalled. "+
			"Verify the new key out of band, then remove the old one with `ssh-keygen -R %s -f %s`",
			ErrHostKeyChanged, c.lookup, key.Type(), fp, w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key),
			knownHostsName(c.lookup), w.Filename)
	}
	// As OpenSSH: a host on another port than 22, without an alias,
	// unknown as [host]:port, is also looked up under its bare name; a
	// match there is accepted and nothing is recorded.
	bareOK := false
	if host == keyNew && c.ep.HostKeyAlias == "" && c.ep.Port != 22 {
		bare, _, err := c.status(net.JoinHostPort(c.ep.HostName, "22"), remote, key)
		bareOK = err == nil && bare == keyOK
	}
	ipName, checkIP := c.ipLookup(remote)
	ip := keyOK
	var ipw *knownhosts.KnownKey
	if checkIP {
		if ip, ipw, err = c.status(ipName, remote, key); err != nil {
			return err
		}
	}
	// What is recorded, as OpenSSH: a new host with its address when
	// that is new too; a known host's address when only that is new.
	var record []string
	if host == keyNew && !bareOK {
		if c.policy == HostKeyStrict {
			return fmt.Errorf("%w: %s presented %s key %s, which is in none of %v. Verify the fingerprint, then "+
				"run again with --accept-new-host-keys (or StrictHostKeyChecking accept-new), or add it with "+
				"`ssh-keyscan -p %d %s >> %s`", ErrHostKeyUnknown, c.lookup, key.Type(), fp,
				c.allFiles(), c.ep.Port, c.ep.HostName, c.writeTo)
		}
		record = append(record, c.lookup)
	}
	if checkIP && ip == keyNew && !bareOK {
		record = append(record, ipName)
	}
	if len(record) > 0 {
		if err := c.record(key, record...); err != nil {
			return err
		}
	}
	if ip == keyChanged && c.policy != HostKeyDangerousAcceptAny {
		return fmt.Errorf("%w: the %s key of %s differs from the one %s:%d records for its address %s "+
			"(CheckHostIP): refused, as OpenSSH's strict checking does. Verify it, then remove the old one "+
			"with `ssh-keygen -R %s -f %s`", ErrHostKeyChanged, key.Type(), c.lookup, ipw.Filename, ipw.Line,
			knownHostsName(ipName), knownHostsName(ipName), ipw.Filename)
	}
	return nil
}

func (c *hostKeyChecker) allFiles() []string {
	return append(append([]string{}, c.ep.UserKnownHostsFiles...), c.ep.GlobalKnownHostsFiles...)
}

// record appends an accepted key under names (host:port each) to the
// first user known_hosts file: one line for all of them, or one hashed
// line each, as OpenSSH writes them.
func (c *hostKeyChecker) record(key ssh.PublicKey, names ...string) error {
	if c.writeTo == "" || c.writeTo == os.DevNull {
		return nil
	}
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(c.writeTo), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(c.writeTo, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	var lines []string
	if c.ep.HashKnownHosts {
		for _, n := range names {
			lines = append(lines, knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(n))}, key))
		}
	} else {
		lines = append(lines, knownhosts.Line(names, key))
	}
	if _, err := fmt.Fprintln(f, strings.Join(lines, "\n")); err != nil {
		f.Close()
		return fmt.Errorf("record host key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	found := false
	for _, x := range c.files {
		found = found || x == c.writeTo
	}
	if !found {
		c.files = append([]string{c.writeTo}, c.files...)
	}
	return c.reload()
}

func knownHostsName(hostport string) string {
	return knownhosts.Normalize(hostport)
}
