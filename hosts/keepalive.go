package hosts

import "time"

// keepAliveInterval is the endpoint's ServerAliveInterval, else the
// Dialer's default; 0 means no keepalives.
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
