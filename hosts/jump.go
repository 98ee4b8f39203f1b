package hosts

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// jumpConn returns a shared connection to a jump host: every target
// behind the same hop (same destination, port and chain) uses one
// connection, closed when the last of them lets go. A dead one is re-dialed.
//
// jumpMu guards only the map and the reference counts, never a dial: the
// dial of a hop dials the hop before it through jumpConn again (ProxyJump
// a,b), and waiting for a hop another target is dialing honours ctx.
func (d *Dialer) jumpConn(ctx context.Context, ep *Endpoint, depth int) (*conn, func(), error) {
	key := ep.Destination() + ":" + strconv.Itoa(ep.Port) + " via " + ep.jumpChain()
	for {
		d.jumpMu.Lock()
		e := d.jumps[key]
		if e != nil && e.settled() && (e.err != nil || e.c.isDead()) {
			// Failed or died: a new dial replaces it; whoever still holds
			// the dead one closes it on release.
			delete(d.jumps, key)
			e = nil
		}
		if e == nil {
			e = &jumpEntry{ready: make(chan struct{}), refs: 1}
			d.jumps[key] = e
			d.jumpMu.Unlock()
			c, err := d.connect(ctx, ep, depth)
			d.jumpMu.Lock()
			e.c, e.err = c, err
			close(e.ready)
			if err != nil {
				e.refs--
				if d.jumps[key] == e {
					delete(d.jumps, key)
				}
				d.jumpMu.Unlock()
				return nil, nil, err
			}
			d.jumpMu.Unlock()
			return c, d.releaser(key, e), nil
		}
		e.refs++
		d.jumpMu.Unlock()
		release := d.releaser(key, e)
		select {
		case <-e.ready:
		case <-ctx.Done():
			release()
			return nil, nil, ContextError(ctx)
		}
		switch {
		case e.err == nil && !e.c.isDead():
			return e.c, release, nil
		case e.err != nil && !errors.Is(e.err, context.Canceled) && !errors.Is(e.err, context.DeadlineExceeded):
			// The hop itself failed: dialing it again at once would fail
			// the same way for every target waiting on it.
			release()
			return nil, nil, e.err
		}
		// Dead already, or the dial was given up by the target that
		// started it (its own context): dial again for this one.
		release()
	}
}

// releaser returns the function that lets go of e once.
func (d *Dialer) releaser(key string, e *jumpEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			d.jumpMu.Lock()
			e.refs--
			last := e.refs == 0
			if last && d.jumps[key] == e {
				delete(d.jumps, key)
			}
			d.jumpMu.Unlock()
			// Closed outside the lock: closing a hop releases the hop
			// before it, which takes the lock again.
			if last && e.c != nil {
				e.c.close()
			}
		})
	}
}

// jumpEntry is a shared jump-host connection, or the dial that makes it,
// and how many targets use or wait for it.
type jumpEntry struct {
	ready chan struct{} // closed when the dial ended: c or err is set
	c     *conn
	err   error
	refs  int
}

func (e *jumpEntry) settled() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }
