package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SSH is the Transport over one SSH connection (plus its jump hosts). A
// dead connection is re-dialed before the next call; concurrent channels
// are bounded by Options.MaxSessions.
type SSH struct {
	ep  *Endpoint
	d   *Dialer
	sem chan struct{}

	mu      sync.Mutex
	conn    *conn // nil until dialed or after it died
	closed  bool
	sudoPwd *bool // nil: not probed yet; else whether sudo needs a password
}

// conn is one live connection with everything hanging off it.
type conn struct {
	client  *ssh.Client
	closers []io.Closer // jump clients, agent connection
	dead    chan struct{}
	broken  atomic.Bool // a failed use showed it is dead before Wait did
	sftpMu  sync.Mutex
	sftp    *sftp.Client
}

func (c *conn) close() {
	c.client.Close()
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i].Close()
	}
}

func (c *conn) isDead() bool {
	if c.broken.Load() {
		return true
	}
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// Endpoint returns the endpoint this transport reaches.
func (t *SSH) Endpoint() *Endpoint { return t.ep }

func (t *SSH) label() string { return t.ep.Name }

// client returns the live connection, dialing when there is none or the
// last one died.
func (t *SSH) client(ctx context.Context) (*conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("%s: transport closed: %w", t.label(), ErrConnLost)
	}
	if t.conn != nil && !t.conn.isDead() {
		return t.conn, nil
	}
	if t.conn != nil {
		t.conn.close()
		t.conn = nil
	}
	c, err := t.d.connect(ctx, t.ep, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.label(), err)
	}
	t.conn = c
	return c, nil
}

// connect dials ep, through its jump hosts, and authenticates.
func (d *Dialer) connect(ctx context.Context, ep *Endpoint, depth int) (*conn, error) {
	if depth > maxJumpDepth {
		return nil, fmt.Errorf("jump chain too long")
	}
	timeout := ep.ConnectTimeout
	if timeout <= 0 {
		timeout = d.opts.ConnectTimeout
	}
	var closers []io.Closer
	fail := func(err error) (*conn, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var raw net.Conn
	var err error
	if ep.Jump != nil {
		// A shared jump connection may have died without anyone noticing
		// yet: then forget it and dial the hop again, once.
		for attempt := 0; ; attempt++ {
			jc, release, err := d.jumpConn(ctx, ep.Jump, depth+1)
			if err != nil {
				return nil, fmt.Errorf("jump host %s: %w", ep.Jump.Destination(), err)
			}
			raw, err = jc.client.DialContext(dctx, "tcp", ep.Addr())
			if err == nil {
				closers = append(closers, closerFunc(release))
				break
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
			return fail(fmt.Errorf("dial %s via %s: %w", ep.Addr(), ep.Jump.Destination(), dialError(dctx, err)))
		}
	} else if ep.ProxyCommand != "" {
		if raw, err = proxyCommandConn(ep); err != nil {
			return fail(err)
		}
	} else {
		raw, err = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(dctx, "tcp", ep.Addr())
		if err != nil {
			return fail(fmt.Errorf("dial %s: %w", ep.Addr(), dialError(dctx, err)))
		}
	}
	hk, err := newHostKeyChecker(ep, d.opts.AcceptNewHostKeys)
	if err != nil {
		raw.Close()
		return fail(err)
	}
	methods, agentConn := d.authMethods(dctx, ep)
	closers = append(closers, agentConn)
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
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, ch, rq, err := ssh.NewClientConn(raw, ep.Addr(), cfg)
		done <- result{c, ch, rq, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-dctx.Done():
		raw.Close()
		<-done
		return fail(fmt.Errorf("ssh handshake with %s: %w", ep.Addr(), ctxError(dctx)))
	}
	if r.err != nil {
		raw.Close()
		return fail(classifyHandshake(ep, r.err))
	}
	client := ssh.NewClient(r.c, r.chans, r.reqs)
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

// jumpConn returns a shared connection to a jump host: every target
// behind the same hop (same destination, port and chain) uses one
// connection, closed when the last of them lets go. A dead one is re-dialed.
func (d *Dialer) jumpConn(ctx context.Context, ep *Endpoint, depth int) (*conn, func(), error) {
	key := ep.Destination() + ":" + strconv.Itoa(ep.Port) + " via " + ep.jumpChain()
	// One lock for all hops: jump dials are few, and it keeps two targets
	// from dialing the same hop twice.
	d.jumpMu.Lock()
	defer d.jumpMu.Unlock()
	e := d.jumps[key]
	if e == nil || e.c.isDead() {
		c, err := d.connect(ctx, ep, depth)
		if err != nil {
			return nil, nil, err
		}
		if e != nil && e.refs == 0 {
			e.c.close()
		}
		e = &jumpEntry{c: c}
		d.jumps[key] = e
	}
	e.refs++
	var once sync.Once
	release := func() {
		once.Do(func() {
			d.jumpMu.Lock()
			defer d.jumpMu.Unlock()
			e.refs--
			if e.refs == 0 {
				e.c.close()
				if d.jumps[key] == e {
					delete(d.jumps, key)
				}
			}
		})
	}
	return e.c, release, nil
}

// jumpEntry is a shared jump-host connection and how many targets use it.
type jumpEntry struct {
	c    *conn
	refs int
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

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
		return ctxError(ctx)
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
	if msg := err.Error(); strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain") {
		return fmt.Errorf("%w for %s (tried agent, identity files %v, password=%v): %w",
			ErrAuth, ep.Destination(), ep.IdentityFiles, ep.PasswordAuthentication, err)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("ssh handshake with %s: %w: server closed the connection", ep.Addr(), ErrConnLost)
	}
	return fmt.Errorf("ssh handshake with %s: %w", ep.Addr(), err)
}

func (d *Dialer) keepAliveInterval(ep *Endpoint) time.Duration {
	if ep.ServerAliveInterval > 0 {
		return ep.ServerAliveInterval
	}
	if d.opts.KeepAlive > 0 {
		return d.opts.KeepAlive
	}
	return 0
}

// keepAlive sends keepalive@openssh.com every interval; countMax unanswered
// requests in a row close the connection, so the next call re-dials
// instead of hanging on a dead peer.
func keepAlive(c *conn, interval time.Duration, countMax int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				c.client.Close()
				return
			}
			missed = 0
		case <-time.After(interval):
			missed++
			if missed >= countMax {
				c.client.Close()
				return
			}
		case <-c.dead:
			return
		}
	}
}

// Close implements Transport.
func (t *SSH) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.conn != nil {
		if t.conn.sftp != nil {
			t.conn.sftp.Close()
		}
		t.conn.close()
		t.conn = nil
	}
	return nil
}

// markDead drops c so the next call re-dials.
func (t *SSH) markDead(c *conn) {
	t.mu.Lock()
	if t.conn == c {
		c.close()
		t.conn = nil
	}
	t.mu.Unlock()
}

// session opens a channel within the semaphore and the op timeout.
// release must be called when the session is done.
func (t *SSH) session(ctx context.Context, bypass bool) (*ssh.Session, *conn, func(), error) {
	release := func() {}
	if !bypass {
		select {
		case t.sem <- struct{}{}:
			release = func() { <-t.sem }
		case <-ctx.Done():
			return nil, nil, nil, ctxError(ctx)
		}
	}
	redialed := false
	backoff := 20 * time.Millisecond
	deadline := time.Now().Add(t.d.opts.OpTimeout)
	for {
		c, err := t.client(ctx)
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		s, err := t.newSession(ctx, c)
		if err == nil {
			return s, c, release, nil
		}
		var oce *ssh.OpenChannelError
		switch {
		case ctx.Err() != nil:
			release()
			return nil, nil, nil, fmt.Errorf("%s: open session: %w", t.label(), ctxError(ctx))
		case errors.As(err, &oce) && time.Now().Before(deadline):
			// sshd refused the channel (MaxSessions counts channels that
			// are still closing): the connection is fine, try again soon.
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 500*time.Millisecond)
			continue
		case !redialed && !errors.As(err, &oce):
			// The connection is dead or wedged: re-dial once.
			redialed = true
			t.markDead(c)
			continue
		}
		release()
		return nil, nil, nil, fmt.Errorf("%s: open session: %w", t.label(), err)
	}
}

func (t *SSH) newSession(ctx context.Context, c *conn) (*ssh.Session, error) {
	type res struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.client.NewSession()
		ch <- res{s, err}
	}()
	timer := time.NewTimer(t.d.opts.OpTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		var oce *ssh.OpenChannelError
		if errors.As(r.err, &oce) {
			return nil, r.err
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConnLost, r.err)
		}
		return r.s, nil
	case <-timer.C:
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, fmt.Errorf("%w: no channel within %v", ErrTimeout, t.d.opts.OpTimeout)
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctxError(ctx)
	}
}

var _ Transport = (*SSH)(nil)
