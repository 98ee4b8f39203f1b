package hosts

import (
	"context"
	"fmt"
	"time"

	"github.com/pkg/sftp"
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
	type res struct {
		s   *sftp.Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := sftp.NewClient(c.client, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64))
		ch <- res{s, err}
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
		return nil, ctxError(ctx)
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
