package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// WriteUserKey makes an ed25519 key pair, writes the private key (OpenSSH
// format, encrypted when passphrase is set) to dir/name, and returns its
// public key.
func WriteUserKey(dir, name, passphrase string) (ssh.PublicKey, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	return sp, path, nil
}

// KnownHostsLine is the known_hosts line for the server's current key under
// the name host (usually 127.0.0.1).
func (s *Server) KnownHostsLine(host string) string {
	return knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(s.Port())))}, s.HostKey())
}

// WriteKnownHosts writes a known_hosts file with the server's key.
func (s *Server) WriteKnownHosts(path string) error {
	return os.WriteFile(path, []byte(fmt.Sprintln(s.KnownHostsLine("127.0.0.1"))), 0o600)
}
