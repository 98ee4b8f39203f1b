package hosts

import (
	"context"
	"strconv"
	"sync"
)

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
