package hosts_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/internal/sshtest"
)

// startAgent serves an in-memory ssh-agent holding one new key.
func startAgent(t *testing.T) (sock string, pub ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	signer, _ := ssh.NewSignerFromKey(priv)
	return sock, signer.PublicKey()
}

func TestAgentKeysFirstAndIdentitiesOnly(t *testing.T) {
	sock, agentPub := startAgent(t)
	w := newWorld(t, map[string]*sshtest.User{"u": {AuthorizedKeys: []ssh.PublicKey{agentPub}}})
	ep := w.endpoint("u")
	ep.IdentityAgent = "" // from SSH_AUTH_SOCK
	ep.IdentitiesOnly = false
	d := hosts.NewDialer(hosts.Options{Environ: []string{"SSH_AUTH_SOCK=" + sock}})
	tr, err := d.Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("agent key: %v", err)
	}
	tr.Close()
	// IdentitiesOnly: the agent's key is not among IdentityFiles, so it
	// must not be offered.
	ep.IdentitiesOnly = true
	ep.PasswordAuthentication = false
	if _, err := d.Dial(bg(t), ep); !errors.Is(err, hosts.ErrAuth) {
		t.Fatalf("IdentitiesOnly must hide the agent's other keys: %v", err)
	}
	// IdentityAgent none: no agent at all.
	ep.IdentitiesOnly, ep.IdentityAgent = false, "none"
	if _, err := d.Dial(bg(t), ep); !errors.Is(err, hosts.ErrAuth) {
		t.Fatalf("IdentityAgent none must not use the agent: %v", err)
	}
}
