package hosts

import (
	"context"
	"sync"
	"time"
)

// handshakeClock bounds an SSH handshake (ConnectTimeout) but stops while
// a prompt waits for the user: typing a password or passphrase must not
// count against the time a server has to answer.
type handshakeClock struct {
	mu      sync.Mutex
	timer   *time.Timer
	left    time.Duration
	started time.Time
	paused  int
	expired chan struct{}
	once    sync.Once
}

func newHandshakeClock(d time.Duration) *handshakeClock {
	c := &handshakeClock{left: d, started: time.Now(), expired: make(chan struct{})}
	c.timer = time.AfterFunc(d, c.expire)
	return c
}

func (c *handshakeClock) expire() { c.once.Do(func() { close(c.expired) }) }

func (c *handshakeClock) pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused == 0 && c.timer.Stop() {
		c.left -= time.Since(c.started)
	}
	c.paused++
}

func (c *handshakeClock) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused--
	if c.paused > 0 {
		return
	}
	select {
	case <-c.expired:
		return
	default:
	}
	c.started = time.Now()
	c.timer = time.AfterFunc(max(c.left, 0), c.expire)
}

func (c *handshakeClock) stop() { c.timer.Stop() }

type clockKey struct{}

// pauseClock stops the handshake clock in ctx, if any, until the returned
// function is called.
func pauseClock(ctx context.Context) func() {
	c, ok := ctx.Value(clockKey{}).(*handshakeClock)
	if !ok {
		return func() {}
	}
	c.pause()
	return c.resume
}
