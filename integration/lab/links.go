package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plan-dev/plan/integration/lab/linkem"
)

// linkPortBase + N is the port of host hN's link proxy on the lab's gateway
// address: the address is the lab's own, so the ports cannot collide with
// another lab's, and they are known before any proxy starts (the ssh_config
// is written first).
const linkPortBase = 2200

// linksLog is the helper process's log in the lab's directory.
const linksLog = "links.log"

// setLinkAddrs gives every host its proxy address when the lab shapes links.
func (l *Lab) setLinkAddrs() {
	if l.Link.IsZero() {
		return
	}
	for i, h := range l.Hosts {
		h.Proxy = net.JoinHostPort(l.Gateway, strconv.Itoa(linkPortBase+i+1))
	}
}

// DialAddr is where clients reach h: its link proxy when the lab shapes
// links, else its sshd.
func (h *Host) DialAddr() string {
	if h.Proxy != "" {
		return h.Proxy
	}
	return h.Addr()
}

// startLinks starts the hosts' link proxies: in this process for a lab that
// dies with it, in the helper process opts.LinkHelper for a persistent one
// (which must outlive the command that made it). It returns once every proxy
// relays an SSH banner.
func (l *Lab) startLinks(ctx context.Context, opts Options) error {
	if l.Link.IsZero() {
		return nil
	}
	if !l.Persistent {
		proxies, err := listenLinks(l)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.proxies = proxies
		l.mu.Unlock()
	} else {
		if len(opts.LinkHelper) == 0 {
			return errors.New("lab: a persistent lab with shaped links needs Options.LinkHelper (a process that serves the proxies)")
		}
		logFile, err := os.OpenFile(filepath.Join(l.Dir, linksLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer logFile.Close()
		args := append(append([]string{}, opts.LinkHelper[1:]...), l.Dir)
		cmd := exec.Command(opts.LinkHelper[0], args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// Its own session, like the hosts: a terminal's Ctrl-C after
		// `plan lab up` must not take the links down.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("lab: start the link helper: %w", err)
		}
		go func() { _ = cmd.Wait() }()
		l.mu.Lock()
		l.LinkProc = procOf(cmd.Process.Pid)
		l.mu.Unlock()
		if err := l.save(); err != nil {
			return err
		}
	}
	wait := 2*time.Second + 3*l.Link.RTT()
	for _, h := range l.Hosts {
		for !bannerWithin(ctx, h.Proxy, wait) {
			if l.Persistent && !l.LinkProc.Alive() {
				return fmt.Errorf("lab: the link helper exited; its log (%s): %s", filepath.Join(l.Dir, linksLog), tailFile(filepath.Join(l.Dir, linksLog)))
			}
			if ctx.Err() != nil {
				return fmt.Errorf("lab: host %s: no SSH banner through its link proxy %s: %w", h.Name, h.Proxy, ctx.Err())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	l.logf("lab %d: links shaped: %s (proxies on %s:%d-%d)", l.ID, l.Link, l.Gateway, linkPortBase+1, linkPortBase+len(l.Hosts))
	return nil
}

// bannerWithin reports whether addr sends an SSH banner within d (through
// a proxy the banner takes the handshake's RTT and the latency).
func bannerWithin(ctx context.Context, addr string, d time.Duration) bool {
	dl := net.Dialer{Timeout: d}
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// listenLinks starts one proxy per host of l.
func listenLinks(l *Lab) ([]*linkem.Proxy, error) {
	var proxies []*linkem.Proxy
	for _, h := range l.Hosts {
		p, err := linkem.Listen(h.Proxy, h.Addr(), l.Link)
		if err != nil {
			for _, q := range proxies {
				_ = q.Close()
			}
			return nil, fmt.Errorf("lab: host %s: %w", h.Name, err)
		}
		proxies = append(proxies, p)
	}
	return proxies, nil
}

// stopLinks closes this process's proxies and kills the link helper (by its
// recorded PID and start time).
func (l *Lab) stopLinks() error {
	l.mu.Lock()
	proxies := l.proxies
	l.proxies = nil
	helper := l.LinkProc
	l.mu.Unlock()
	var errs []error
	for _, p := range proxies {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if helper.Alive() {
		helper.signal(syscall.SIGTERM)
		if !waitGone(helper, 5*time.Second) {
			helper.signal(syscall.SIGKILL)
			if !waitGone(helper, 5*time.Second) {
				errs = append(errs, fmt.Errorf("lab %d: link helper %d does not die", l.ID, helper.PID))
			}
		}
	}
	// errors.Join, not go-multierror: the failures are gathered one after
	// the other and only printed, one a line, which the standard library
	// does as well.
	return errors.Join(errs...)
}

// LinkStats returns what went through h's link proxy, when it runs in this
// process.
func (l *Lab) LinkStats(h *Host) (linkem.Stats, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.Hosts {
		if o == h && i < len(l.proxies) {
			return l.proxies[i].Stats(), true
		}
	}
	return linkem.Stats{}, false
}

// ServeLinks is the link helper of a persistent lab: it serves the proxies
// of the lab in dir until ctx ends or the lab is gone (its state file
// removed or replaced by another lab's), then closes them. `plan lab
// serve-links DIR` runs it; Close kills it.
func ServeLinks(ctx context.Context, dir string) error {
	l, err := Load(dir)
	if err != nil {
		return err
	}
	if l.Link.IsZero() {
		return fmt.Errorf("lab %d: no shaped links to serve", l.ID)
	}
	proxies, err := listenLinks(l)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range proxies {
			_ = p.Close()
		}
	}()
	fmt.Printf("lab %d: serving %d link proxies (%s)\n", l.ID, len(proxies), l.Link)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if cur, err := Load(dir); err != nil || !cur.Created.Equal(l.Created) {
				fmt.Printf("lab %d: gone; closing its link proxies\n", l.ID)
				return nil
			}
		}
	}
}

func tailFile(p string) string {
	b, _ := os.ReadFile(p)
	if len(b) > 1000 {
		b = b[len(b)-1000:]
	}
	if len(b) == 0 {
		return "(empty)"
	}
	return string(b)
}

// LinkShape is linkem.Shape, for callers of the lab that set Options.Link.
type LinkShape = linkem.Shape

// ParseBandwidth reads a rate such as 1gbit or 50mbps (linkem.ParseBandwidth).
func ParseBandwidth(s string) (int64, error) { return linkem.ParseBandwidth(s) }
