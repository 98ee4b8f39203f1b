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
	// sftpMu guards the fields only: the start (network I/O) runs outside
	// it, and whoever comes meanwhile waits for that start or its ctx.
	for {
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftpMu.Unlock()
			return c.sftp, nil
		}
		wait := c.sftpStarting
		if wait == nil {
			break // with sftpMu held: this caller starts it
		}
		c.sftpMu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ContextError(ctx)
		}
	}
	starting := make(chan struct{})
	c.sftpStarting = starting
	c.sftpMu.Unlock()
	s, err := t.startSFTP(ctx, c)
	c.sftpMu.Lock()
	c.sftpStarting = nil
	if err == nil {
		c.sftp = s
	}
	c.sftpMu.Unlock()
	close(starting)
	return s, err
}

// startSFTP opens the connection's sftp channel, bounded by the op
// timeout; one that does not answer in time marks the connection dead.
func (t *SSH) startSFTP(ctx context.Context, c *conn) (*sftp.Client, error) {
	// A channel refused because sshd's MaxSessions is reached is retried
	// until the op timeout, like command sessions.
	start := func() (*sftp.Client, error) {
		backoff := 20 * time.Millisecond
		deadline := time.Now().Add(t.d.opts.OpTimeout)
		for {
			s, err := sftp.NewClient(c.client, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64))
			var oce *ssh.OpenChannelError
			if err == nil || !errors.As(err, &oce) || time.Now().Add(backoff).After(deadline) || ctx.Err() != nil {
				return s, err
			}
			t.shells.closeOne() // an idle reused shell may hold the session it needs
			time.Sleep(backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
	s, err := bounded(ctx, t.d.opts.OpTimeout, nil, start, nil, func(s *sftp.Client) { s.Close() })
	switch {
	case expiredAfter(err):
		t.markDead(c)
		return nil, fmt.Errorf("start sftp: %w", ErrTimeout)
	case err != nil && ctx.Err() != nil:
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("start sftp: %w", err)
	}
	return s, nil
}

// sftpCall runs one sftp request bounded by ctx and the op timeout; a
// request that does not answer in time marks the connection dead. What the
// request opens after its caller gave up is closed by late.
func sftpCall[T any](ctx context.Context, t *SSH, call func() (T, error), late func(T)) (T, error) {
	v, err := bounded(ctx, t.d.opts.OpTimeout, nil, call, nil, late)
	if expiredAfter(err) {
		if c := t.currentConn(); c != nil {
			t.markDead(c)
		}
		return v, fmt.Errorf("sftp: %w", ErrTimeout)
	}
	return v, err
}

// sftpOp is sftpCall for a request that opens nothing.
func (t *SSH) sftpOp(ctx context.Context, op func() error) error {
	_, err := sftpCall(ctx, t, func() (struct{}, error) { return struct{}{}, op() }, nil)
	return err
}

// closeFile closes a remote file that was opened too late.
func closeFile(f *sftp.File) { f.Close() }
