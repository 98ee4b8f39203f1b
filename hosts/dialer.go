package hosts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// PromptFunc asks the user a question on the terminal. secret means the
// answer must not be echoed. It is called at most once per question kind per
// run (the Dialer caches answers).
type PromptFunc func(ctx context.Context, question string, secret bool) (string, error)

// Environment variables read by the Dialer.
const (
	EnvSSHPassword  = "PLAN_SSH_PASSWORD"
	EnvSudoPassword = "PLAN_SUDO_PASSWORD"
)

// Options configure a Dialer.
type Options struct {
	// AcceptNewHostKeys records unknown host keys (--accept-new-host-keys),
	// as StrictHostKeyChecking accept-new would. Changed keys are refused.
	AcceptNewHostKeys bool
	// Prompt asks for passwords and passphrases; nil never asks (the
	// environment is then the only source).
	Prompt PromptFunc
	// Environ is the environment (nil = os.Environ()): PLAN_SSH_PASSWORD,
	// PLAN_SUDO_PASSWORD and SSH_AUTH_SOCK are read from it.
	Environ []string
	// MaxSessions bounds concurrent command channels per host (default 8).
	// The sftp client and a cancellation's kill command take a channel of
	// their own, so keep it at most sshd's MaxSessions (10 by default)
	// minus 2; a channel sshd refuses anyway is retried, not fatal.
	MaxSessions int
	// SessionPerCommand opens a session for every command instead of
	// sending consecutive commands to a reused shell on the host (see
	// Transport.Run). Slower; for hosts where a long-lived shell is not
	// wanted.
	SessionPerCommand bool
	// ConnectTimeout bounds TCP connect + handshake + auth when the
	// endpoint's ConnectTimeout is 0 (default 15s).
	ConnectTimeout time.Duration
	// OpTimeout bounds opening a session and each sftp request (default
	// 30s). Commands themselves run as long as their ctx allows.
	OpTimeout time.Duration
	// KeepAlive is the keepalive interval when the endpoint has no
	// ServerAliveInterval (default 15s; negative disables).
	KeepAlive time.Duration
}

// Dialer connects to Endpoints. One Dialer serves a whole run, so a
// password or passphrase is asked once and reused for every host.
type Dialer struct {
	opts Options

	mu      sync.Mutex
	answers map[string]string // question kind -> answer
	asking  map[string]*sync.Mutex

	jumpMu sync.Mutex
	jumps  map[string]*jumpEntry // shared jump-host connections
}

// NewDialer returns a Dialer with opts' defaults filled in.
func NewDialer(opts Options) *Dialer {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 8
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 15 * time.Second
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 30 * time.Second
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	return &Dialer{opts: opts, answers: map[string]string{}, asking: map[string]*sync.Mutex{},
		jumps: map[string]*jumpEntry{}}
}

func (d *Dialer) getenv(k string) string {
	for i := len(d.opts.Environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(d.opts.Environ[i], k+"="); ok {
			return v
		}
	}
	return ""
}

// errNoAnswer means a secret was needed but neither the environment nor a
// prompt could give it.
var errNoAnswer = errors.New("none given")

// secret returns the answer for kind ("ssh-password", "sudo-password",
// "passphrase:FILE"), from env (when envKey is set), the cache, or one
// prompt; concurrent callers wait for the one prompt.
func (d *Dialer) secret(ctx context.Context, kind, envKey, question string) (string, error) {
	if envKey != "" {
		if v := d.getenv(envKey); v != "" {
			return v, nil
		}
	}
	// Waiting for the user (or for another host's prompt) does not count
	// against the handshake's ConnectTimeout.
	defer pauseClock(ctx)()
	d.mu.Lock()
	m := d.asking[kind]
	if m == nil {
		m = &sync.Mutex{}
		d.asking[kind] = m
	}
	d.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	d.mu.Lock()
	v, ok := d.answers[kind]
	d.mu.Unlock()
	if ok {
		return v, nil
	}
	if d.opts.Prompt == nil {
		if envKey != "" {
			return "", fmt.Errorf("%w: set %s or run on a terminal", errNoAnswer, envKey)
		}
		return "", fmt.Errorf("%w: run on a terminal", errNoAnswer)
	}
	v, err := d.opts.Prompt(ctx, question, true)
	if err != nil {
		return "", fmt.Errorf("prompt: %w", err)
	}
	d.mu.Lock()
	d.answers[kind] = v
	d.mu.Unlock()
	return v, nil
}

// forget drops a cached answer that turned out wrong, so the next use asks
// again instead of repeating a rejected secret.
func (d *Dialer) forget(kind string) {
	d.mu.Lock()
	delete(d.answers, kind)
	d.mu.Unlock()
}

// Secrets returns every password and passphrase this Dialer knows, so
// callers can redact them from anything they print or log.
func (d *Dialer) Secrets() []string {
	out := []string{}
	for _, k := range []string{EnvSSHPassword, EnvSudoPassword} {
		if v := d.getenv(k); v != "" {
			out = append(out, v)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.answers {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Dial connects to ep (through its jump hosts) and returns its Transport.
// The connection is made now, so host-key and auth failures surface here.
func (d *Dialer) Dial(ctx context.Context, ep *Endpoint) (*SSH, error) {
	if ep.Port == 0 || ep.User == "" {
		cp := *ep
		if cp.Port == 0 {
			cp.Port = 22
		}
		if cp.User == "" {
			cp.User = LocalUserName()
		}
		ep = &cp
	}
	t := &SSH{ep: ep, d: d, sem: make(chan struct{}, d.opts.MaxSessions), done: make(chan struct{})}
	if _, err := t.client(ctx); err != nil {
		return nil, err
	}
	return t, nil
}
