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
	lookup   string // host:port as known_hosts knows it
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
	name := ep.HostName
	if ep.HostKeyAlias != "" {
		name = ep.HostKeyAlias
	}
	c.lookup = net.JoinHostPort(name, strconv.Itoa(ep.Port))
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

// check is the ssh.HostKeyCallback.
func (c *hostKeyChecker) check(_ string, remote net.Addr, key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	if len(c.badRevoked) > 0 {
		return fmt.Errorf("%w: %s presented %s; known_hosts has a revocation plan cannot read (%s), which may be "+
			"of this very key, so no key is trusted until that line is fixed or removed",
			ErrHostKeyChanged, c.lookup, fp, strings.Join(c.badRevoked, "; "))
	}
	if c.callback != nil {
		err := c.callback(c.lookup, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			return fmt.Errorf("%w: host %s presented the REVOKED key %s (%s)", ErrHostKeyChanged, c.lookup, fp, re.Revoked.Filename)
		case errors.As(err, &ke) && len(c.plainWanted(ke.Want)) > 0:
			w := c.plainWanted(ke.Want)[0]
			return fmt.Errorf("%w: WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for %s: it presented %s %s, "+
				"but %s:%d records %s %s. Someone could be intercepting the connection, or the host was reinstalled. "+
				"Verify the new key out of band, then remove the old one with `ssh-keygen -R %s -f %s`",
				ErrHostKeyChanged, c.lookup, key.Type(), fp, w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key),
				knownHostsName(c.lookup), w.Filename)
		case errors.As(err, &ke):
			// unknown: fall through to the policy
		default:
			return fmt.Errorf("check host key of %s: %w", c.lookup, err)
		}
	}
	if c.policy == HostKeyStrict {
		return fmt.Errorf("%w: %s presented %s key %s, which is in none of %v. Verify the fingerprint, then "+
			"run again with --accept-new-host-keys (or StrictHostKeyChecking accept-new), or add it with "+
			"`ssh-keyscan -p %d %s >> %s`", ErrHostKeyUnknown, c.lookup, key.Type(), fp,
			c.allFiles(), c.ep.Port, c.ep.HostName, c.writeTo)
	}
	return c.record(key)
}

func (c *hostKeyChecker) allFiles() []string {
	return append(append([]string{}, c.ep.UserKnownHostsFiles...), c.ep.GlobalKnownHostsFiles...)
}

// record appends an accepted key to the first user known_hosts file.
func (c *hostKeyChecker) record(key ssh.PublicKey) error {
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
	name := knownhosts.Normalize(c.lookup)
	if c.ep.HashKnownHosts {
		name = knownhosts.HashHostname(name)
	}
	line := knownhosts.Line([]string{name}, key)
	if _, err := fmt.Fprintln(f, line); err != nil {
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
