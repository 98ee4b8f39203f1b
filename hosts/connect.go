package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// connect dials ep, through its jump hosts, and authenticates.
func (d *Dialer) connect(ctx context.Context, ep *Endpoint, depth int) (*conn, error) {
	if depth > MaxJumpDepth {
		return nil, fmt.Errorf("jump chain too long")
	}
	timeout := ep.ConnectTimeout
	if timeout <= 0 {
		timeout = d.opts.ConnectTimeout
	}
	raw, release, err := d.dialRaw(ctx, ep, depth, timeout)
	if err != nil {
		return nil, err
	}
	client, agentConn, err := d.handshake(ctx, ep, raw, timeout)
	if err != nil {
		if release != nil {
			release.Close()
		}
		return nil, err
	}
	var closers []io.Closer // closed in reverse: the agent, then the hop
	if release != nil {
		closers = append(closers, release)
	}
	closers = append(closers, agentConn)
	c := &conn{client: client, closers: closers, dead: make(chan struct{})}
	go func() {
		client.Wait()
		close(c.dead)
	}()
	if iv := d.keepAliveInterval(ep); iv > 0 {
		go keepAlive(c, iv, max(ep.ServerAliveCountMax, 1))
	}
	return c, nil
}

// dialRaw opens the byte stream to ep: through its jump host (release then
// lets go of the shared hop connection), its ProxyCommand, or TCP.
func (d *Dialer) dialRaw(ctx context.Context, ep *Endpoint, depth int, timeout time.Duration) (net.Conn, io.Closer, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case ep.Jump != nil:
		// A shared jump connection may have died without anyone noticing
		// yet: then forget it and dial the hop again, once.
		for attempt := 0; ; attempt++ {
			jc, release, err := d.jumpConn(ctx, ep.Jump, depth+1)
			if err != nil {
				return nil, nil, fmt.Errorf("jump host %s: %w", ep.Jump.Destination(), err)
			}
			raw, err := jc.client.DialContext(dctx, "tcp", ep.Addr())
			if err == nil {
				return raw, closerFunc(release), nil
			}
			release()
			var oce *ssh.OpenChannelError
			if !errors.As(err, &oce) && dctx.Err() == nil {
				jc.broken.Store(true)
				if attempt == 0 {
					continue
				}
				err = fmt.Errorf("%w: %w", ErrConnLost, err)
			}
			return nil, nil, fmt.Errorf("dial %s via %s: %w", ep.Addr(), ep.Jump.Destination(), dialError(dctx, err))
		}
	case ep.ProxyCommand != "":
		raw, err := proxyCommandConn(ep)
		return raw, nil, err
	}
	raw, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(dctx, "tcp", ep.Addr())
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", ep.Addr(), dialError(dctx, err))
	}
	return raw, nil, nil
}

// handshake runs the SSH handshake and authentication over raw, within the
// handshake clock (which stops while a prompt waits for the user) and ctx.
// It closes raw when it fails; agentConn is the agent connection the auth
// methods use, for the caller to close with the client.
func (d *Dialer) handshake(ctx context.Context, ep *Endpoint, raw net.Conn, timeout time.Duration) (*ssh.Client, io.Closer, error) {
	hk, err := newHostKeyChecker(ep, d.opts.AcceptNewHostKeys)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	clock := newHandshakeClock(timeout)
	defer clock.stop()
	hctx := context.WithValue(ctx, clockKey{}, clock)
	methods, agentConn := d.authMethods(hctx, ep)
	cfg := &ssh.ClientConfig{
		User:              ep.User,
		Auth:              methods,
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: preferAlgorithms(hk.knownKeyAlgorithms()),
		Timeout:           timeout,
	}
	// x/crypto/ssh's handshake has no deadline of its own: a server that
	// accepts TCP and never speaks would hang it forever. Close the socket
	// when the bound passes.
	type result struct {
		c     ssh.Conn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
	}
	r, err := bounded(ctx, 0, clock.expired, func() (result, error) {
		c, ch, rq, err := ssh.NewClientConn(raw, ep.Addr(), cfg)
		return result{c, ch, rq}, err
	}, func() { raw.Close() }, func(h result) { h.c.Close() })
	if err != nil {
		raw.Close()
		agentConn.Close()
		switch {
		case expiredAfter(err):
			return nil, nil, fmt.Errorf("ssh handshake with %s: %w: no answer within %v", ep.Addr(), ErrTimeout, timeout)
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("ssh handshake with %s: %w", ep.Addr(), err)
		}
		return nil, nil, classifyHandshake(ep, err)
	}
	return ssh.NewClient(r.c, r.chans, r.reqs), agentConn, nil
}

// preferAlgorithms puts the known key types first and keeps every other
// algorithm after them, as OpenSSH orders HostKeyAlgorithms.
func preferAlgorithms(known []string) []string {
	all := ssh.SupportedAlgorithms().HostKeys
	if len(known) == 0 {
		// Nothing known for this host: ask for plain keys, so an unknown
		// host shows a key that can be verified and recorded rather than
		// a certificate nobody vouches for.
		var plain []string
		for _, a := range all {
			if !strings.Contains(a, "-cert-") {
				plain = append(plain, a)
			}
		}
		return plain
	}
	out := append([]string{}, known...)
	for _, a := range all {
		dup := false
		for _, k := range known {
			dup = dup || k == a
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

func dialError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ContextError(ctx)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// classifyHandshake maps handshake failures to the typed errors.
func classifyHandshake(ep *Endpoint, err error) error {
	switch {
	case errors.Is(err, ErrHostKeyUnknown), errors.Is(err, ErrHostKeyChanged):
		return err
	case errors.Is(err, errNoAnswer):
		return fmt.Errorf("%w for %s: %w", ErrAuth, ep.Destination(), err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("ssh handshake with %s: %w: %w", ep.Addr(), ErrTimeout, err)
	}
	// x/crypto/ssh's own message (it has no typed error for this), not
	// the server's, so no locale changes it.
	if msg := err.Error(); strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain") {
		return fmt.Errorf("%w for %s (tried agent, identity files %v, password=%v): %w",
			ErrAuth, ep.Destination(), ep.IdentityFiles, ep.PasswordAuthentication, err)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("ssh handshake with %s: %w: server closed the connection", ep.Addr(), ErrConnLost)
	}
	return fmt.Errorf("ssh handshake with %s: %w", ep.Addr(), err)
}
