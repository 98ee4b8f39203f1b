package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authMethods builds the methods in OpenSSH's order: public keys (the
// agent's, then each IdentityFile, encrypted ones unlocked only when the
// server accepts their public key), keyboard-interactive and password (one
// password asked once per run or from PLAN_SSH_PASSWORD). The returned
// closer ends the agent connection.
func (d *Dialer) authMethods(ctx context.Context, ep *Endpoint) ([]ssh.AuthMethod, io.Closer) {
	var signers []ssh.Signer
	var closer io.Closer = nopCloser{}
	fileSigners := d.identitySigners(ctx, ep)
	if sock := d.agentSocket(ep); sock != "" {
		if conn, err := (&net.Dialer{}).DialContext(ctx, "unix", sock); err == nil {
			closer = conn
			if ag, err := agent.NewClient(conn).Signers(); err == nil {
				for _, s := range ag {
					if !ep.IdentitiesOnly || containsKey(fileSigners, s.PublicKey()) {
						signers = append(signers, s)
					}
				}
			}
		}
	}
	for _, s := range fileSigners {
		if !containsKey(signers, s.PublicKey()) {
			signers = append(signers, s)
		}
	}
	signers = append(certSigners(ep.CertificateFiles, signers), signers...)
	methods := []ssh.AuthMethod{ssh.PublicKeys(signers...)}
	if ep.PasswordAuthentication {
		password := func() (string, error) {
			return d.secret(ctx, "ssh-password", EnvSSHPassword, fmt.Sprintf("%s's password: ", ep.Destination()))
		}
		methods = append(methods,
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if echos[i] {
						return nil, errors.New("keyboard-interactive: only password questions are supported")
					}
					p, err := password()
					if err != nil {
						return nil, err
					}
					answers[i] = p
				}
				return answers, nil
			}),
			ssh.PasswordCallback(password))
	}
	return methods, closer
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func (d *Dialer) agentSocket(ep *Endpoint) string {
	switch ep.IdentityAgent {
	case "none":
		return ""
	case "":
		return d.getenv("SSH_AUTH_SOCK")
	default:
		return ep.IdentityAgent
	}
}

func containsKey(signers []ssh.Signer, k ssh.PublicKey) bool {
	for _, s := range signers {
		if string(s.PublicKey().Marshal()) == string(k.Marshal()) {
			return true
		}
	}
	return false
}

// identitySigners loads the endpoint's identity files that exist. Keys
// that need a passphrase become lazy signers: the passphrase is asked (once
// per file per run) only when the server accepts the public key.
func (d *Dialer) identitySigners(ctx context.Context, ep *Endpoint) []ssh.Signer {
	var out []ssh.Signer
	for _, f := range ep.IdentityFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			continue // missing default keys are normal
		}
		s, err := ssh.ParsePrivateKey(pem)
		if err == nil {
			out = append(out, withCertificate(f, s)...)
			continue
		}
		var missing *ssh.PassphraseMissingError
		if !errors.As(err, &missing) {
			continue
		}
		pub := missing.PublicKey
		if pub == nil {
			if b, err := os.ReadFile(f + ".pub"); err == nil {
				pub, _, _, _, _ = ssh.ParseAuthorizedKey(b)
			}
		}
		if pub == nil {
			continue
		}
		out = append(out, withCertificate(f, &lazySigner{pub: pub, unlock: func() (ssh.Signer, error) {
			kind := "passphrase:" + f
			pass, err := d.secret(ctx, kind, "", fmt.Sprintf("Enter passphrase for key '%s': ", f))
			if err != nil {
				return nil, err
			}
			// Decrypting is local work (bcrypt, seconds on a loaded
			// machine), not the server's silence: the handshake clock
			// stops meanwhile, as it does at the prompt.
			resume := pauseClock(ctx)
			s, err := ssh.ParsePrivateKeyWithPassphrase(pem, []byte(pass))
			resume()
			if err != nil {
				d.forget(kind)
				return nil, fmt.Errorf("unlock %s: %w", f, err)
			}
			return s, nil
		}})...)
	}
	return out
}

// withCertificate returns the key's certificate signer (from KEY-cert.pub,
// as OpenSSH looks for it) ahead of the plain key, or just the key.
func withCertificate(keyFile string, s ssh.Signer) []ssh.Signer {
	b, err := os.ReadFile(keyFile + "-cert.pub")
	if err != nil {
		return []ssh.Signer{s}
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	cert, ok := pub.(*ssh.Certificate)
	if err != nil || !ok {
		return []ssh.Signer{s}
	}
	cs, err := ssh.NewCertSigner(cert, s)
	if err != nil {
		return []ssh.Signer{s}
	}
	return []ssh.Signer{cs, s}
}

// lazySigner defers decrypting a key until a signature is needed.
type lazySigner struct {
	pub    ssh.PublicKey
	unlock func() (ssh.Signer, error)

	once sync.Once
	s    ssh.Signer
	err  error
}

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.pub }

func (l *lazySigner) get() (ssh.Signer, error) {
	l.once.Do(func() { l.s, l.err = l.unlock() })
	return l.s, l.err
}

func (l *lazySigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Sign(r, data)
}

func (l *lazySigner) SignWithAlgorithm(r io.Reader, data []byte, algo string) (*ssh.Signature, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	if as, ok := s.(ssh.AlgorithmSigner); ok {
		return as.SignWithAlgorithm(r, data, algo)
	}
	return s.Sign(r, data)
}

// certSigners pairs each CertificateFile with the signer (agent or file)
// holding the key it certifies.
func certSigners(files []string, signers []ssh.Signer) []ssh.Signer {
	var out []ssh.Signer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
		cert, ok := pub.(*ssh.Certificate)
		if err != nil || !ok {
			continue
		}
		for _, s := range signers {
			if string(s.PublicKey().Marshal()) == string(cert.Key.Marshal()) {
				if cs, err := ssh.NewCertSigner(cert, s); err == nil {
					out = append(out, cs)
				}
				break
			}
		}
	}
	return out
}
