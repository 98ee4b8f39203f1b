package hosts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// session opens a channel within the semaphore and the op timeout.
// release must be called when the session is done.
func (t *SSH) session(ctx context.Context, bypass bool) (*ssh.Session, *conn, func(), error) {
	release := func() {}
	if !bypass {
		select {
		case t.sem <- struct{}{}:
		default:
			// Every slot is taken: an idle reused shell gives its up,
			// now or (counted as waiting) when it is put back.
			t.shells.waiting.Add(1)
			t.shells.closeOne()
			select {
			case t.sem <- struct{}{}:
				t.shells.waiting.Add(-1)
			case <-ctx.Done():
				t.shells.waiting.Add(-1)
				return nil, nil, nil, ContextError(ctx)
			}
		}
		release = func() { <-t.sem }
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
			return nil, nil, nil, fmt.Errorf("%s: open session: %w", t.label(), ContextError(ctx))
		case errors.As(err, &oce) && time.Now().Before(deadline):
			// sshd refused the channel (MaxSessions counts channels that
			// are still closing): the connection is fine, try again soon,
			// after giving back a session an idle reused shell holds (a
			// host may allow fewer sessions than Options.MaxSessions).
			t.shells.closeOne()
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
	s, err := bounded(ctx, t.d.opts.OpTimeout, nil, c.client.NewSession, nil, func(s *ssh.Session) { s.Close() })
	var oce *ssh.OpenChannelError
	switch {
	case err == nil, errors.As(err, &oce), ctx.Err() != nil:
		return s, err
	case expiredAfter(err):
		return nil, fmt.Errorf("%w: no channel within %v", ErrTimeout, t.d.opts.OpTimeout)
	}
	return nil, fmt.Errorf("%w: %w", ErrConnLost, err)
}
