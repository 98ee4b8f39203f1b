package hosts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sftpClient returns the connection's one sftp client, starting it on
// first use (bounded by the op timeout).
func (t *SSH) sftpClient(ctx context.Context) (*sftp.Client, error) {
	c, err := t.client(ctx)
	if err != nil {
		return nil, err
	}
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	type res = struct {
		s   *sftp.Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		// A channel refused because sshd's MaxSessions is reached is
		// retried until the op timeout, like command sessions.
		backoff := 20 * time.Millisecond
		deadline := time.Now().Add(t.d.opts.OpTimeout)
		for {
			s, err := sftp.NewClient(c.client, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64))
			var oce *ssh.OpenChannelError
			if err == nil || !errors.As(err, &oce) || time.Now().Add(backoff).After(deadline) || ctx.Err() != nil {
				ch <- res{s, err}
				return
			}
			t.shells.closeOne() // an idle reused shell may hold the session it needs
			time.Sleep(backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}()
	timer := time.NewTimer(t.d.opts.OpTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("start sftp: %w", r.err)
		}
		c.sftp = r.s
		return r.s, nil
	case <-timer.C:
		t.markDead(c)
		return nil, fmt.Errorf("start sftp: %w", ErrTimeout)
	case <-ctx.Done():
		go closeLate(ch)
		return nil, ctxError(ctx)
	}
}

// closeLate closes an sftp client that arrives after its caller gave up.
func closeLate(ch <-chan struct {
	s   *sftp.Client
	err error
}) {
	if r := <-ch; r.s != nil {
		r.s.Close()
	}
}

// sftpOp runs one sftp request bounded by ctx and the op timeout; a request
// that does not answer in time marks the connection dead.
func (t *SSH) sftpOp(ctx context.Context, op func() error) error {
	ch := make(chan error, 1)
	go func() { ch <- op() }()
	timer := time.NewTimer(t.d.opts.OpTimeout)
	defer timer.Stop()
	select {
	case err := <-ch:
		return err
	case <-timer.C:
		t.mu.Lock()
		c := t.conn
		t.mu.Unlock()
		if c != nil {
			t.markDead(c)
		}
		return fmt.Errorf("sftp: %w", ErrTimeout)
	case <-ctx.Done():
		return ctxError(ctx)
	}
}
