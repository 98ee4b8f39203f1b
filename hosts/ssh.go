package hosts

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

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

	shells shellPool // idle reused shells (shell.go)

	mu      sync.Mutex
	conn    *conn         // nil until dialed or after it died
	dialing chan struct{} // non-nil while a dial runs (outside mu); closed when it ends
	done    chan struct{} // closed by Close: a dial under way gives up
	closed  bool
	sudoPwd *bool // nil: not probed yet; else whether sudo needs a password
}

// conn is one live connection with everything hanging off it.
type conn struct {
	client       *ssh.Client
	closers      []io.Closer // jump clients, agent connection
	dead         chan struct{}
	broken       atomic.Bool // a failed use showed it is dead before Wait did
	sftpMu       sync.Mutex
	sftp         *sftp.Client
	sftpStarting chan struct{} // non-nil while the sftp client starts; closed when done
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
// last one died. The dial runs outside mu (it is network I/O, bounded by
// the connect timeout): Close, markDead and the reused shells never wait
// for it, and callers that come meanwhile wait for that dial (or their
// ctx) instead of dialing twice.
func (t *SSH) client(ctx context.Context) (*conn, error) {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, fmt.Errorf("%s: transport closed: %w", t.label(), ErrConnLost)
		}
		if c := t.conn; c != nil && !c.isDead() {
			t.mu.Unlock()
			return c, nil
		}
		if wait := t.dialing; wait != nil {
			t.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%s: %w", t.label(), ContextError(ctx))
			}
		}
		dead := t.conn
		t.conn = nil
		dialing := make(chan struct{})
		t.dialing = dialing
		t.mu.Unlock()
		if dead != nil {
			dead.close()
		}
		c, err := t.dial(ctx)
		t.mu.Lock()
		t.dialing = nil
		close(dialing)
		closed := t.closed
		if err == nil && !closed {
			t.conn = c
		}
		t.mu.Unlock()
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %w", t.label(), err)
		case closed:
			c.close()
			return nil, fmt.Errorf("%s: transport closed: %w", t.label(), ErrConnLost)
		}
		return c, nil
	}
}

// dial connects, giving up when ctx ends or the transport is closed.
func (t *SSH) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-t.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return t.d.connect(ctx, t.ep, 0)
}

// Close implements Transport.
func (t *SSH) Close() error {
	t.shells.closeAll()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		close(t.done)
	}
	t.closed = true
	if t.conn != nil {
		t.conn.sftpMu.Lock()
		if t.conn.sftp != nil {
			t.conn.sftp.Close()
		}
		t.conn.sftpMu.Unlock()
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

var _ Transport = (*SSH)(nil)
