package linkem

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// Shape is what a link adds to the traffic through it. The zero Shape adds
// nothing (the proxy still relays, and counts).
type Shape struct {
	// Latency is the one-way delay added in each direction: RTT = 2×Latency.
	Latency time.Duration `json:"latency_ns,omitempty"`
	// Jitter varies each chunk's delay uniformly by ±Jitter (< Latency).
	Jitter time.Duration `json:"jitter_ns,omitempty"`
	// Bandwidth caps each direction in bytes per second (0: no cap).
	Bandwidth int64 `json:"bandwidth_bps,omitempty"`
}

// RTT is the round-trip time the link adds.
func (s Shape) RTT() time.Duration { return 2 * s.Latency }

// IsZero reports whether the link adds nothing.
func (s Shape) IsZero() bool { return s == Shape{} }

// Validate rejects what Toxiproxy's toxics cannot do: a delay that is not in
// whole milliseconds (they count milliseconds), a jitter not below the
// latency (a negative delay), a rate below 1 KB/s.
func (s Shape) Validate() error {
	switch {
	case s.Latency < 0 || s.Jitter < 0 || s.Bandwidth < 0:
		return fmt.Errorf("link: negative latency, jitter or bandwidth")
	case s.Latency%time.Millisecond != 0 || s.Jitter%time.Millisecond != 0:
		return fmt.Errorf("link: latency and jitter must be whole milliseconds (got %s, %s)", s.Latency, s.Jitter)
	case s.Jitter > 0 && s.Jitter >= s.Latency:
		return fmt.Errorf("link: jitter %s must be less than the latency %s", s.Jitter, s.Latency)
	case s.Bandwidth > 0 && s.Bandwidth < 1000:
		return fmt.Errorf("link: bandwidth %d B/s is below the 1 KB/s the emulator can do", s.Bandwidth)
	}
	return nil
}

// String describes the shape for logs and status lines.
func (s Shape) String() string {
	if s.IsZero() {
		return "no added latency or bandwidth limit"
	}
	var parts []string
	if s.Latency > 0 {
		lat := fmt.Sprintf("latency %s", s.Latency)
		if s.Jitter > 0 {
			lat += fmt.Sprintf(" ±%s", s.Jitter)
		}
		parts = append(parts, lat+fmt.Sprintf(" each way (RTT %s)", s.RTT()))
	}
	if s.Bandwidth > 0 {
		parts = append(parts, "bandwidth "+FormatBandwidth(s.Bandwidth))
	}
	return strings.Join(parts, ", ")
}

// ParseBandwidth reads a rate as tc writes one: a number and a unit, bits
// (bit, kbit, mbit, gbit) or bytes (bps, kbps, mbps, gbps) per second, with
// decimal prefixes: "1gbit" is 125000000 bytes per second. It returns bytes
// per second.
func ParseBandwidth(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf("bandwidth %q: want a number and a unit, e.g. 1gbit, 100mbit, 50mbps", s)
	}
	v, err := strconv.ParseFloat(t[:i], 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bandwidth %q: want a positive number and a unit", s)
	}
	units := map[string]float64{
		"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8,
		"bps": 1, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9,
	}
	mul, ok := units[t[i:]]
	if !ok {
		return 0, fmt.Errorf("bandwidth %q: unknown unit %q (bit, kbit, mbit, gbit; bps, kbps, mbps, gbps = bytes/s)", s, t[i:])
	}
	return int64(v * mul), nil
}

// FormatBandwidth writes bytes per second as bits per second, as ParseBandwidth reads.
func FormatBandwidth(bps int64) string {
	bits := float64(bps) * 8
	switch {
	case bits >= 1e9:
		return strconv.FormatFloat(bits/1e9, 'g', 4, 64) + "gbit"
	case bits >= 1e6:
		return strconv.FormatFloat(bits/1e6, 'g', 4, 64) + "mbit"
	case bits >= 1e3:
		return strconv.FormatFloat(bits/1e3, 'g', 4, 64) + "kbit"
	}
	return strconv.FormatFloat(bits, 'g', 4, 64) + "bit"
}

// Stats counts what went through a proxy.
type Stats struct {
	Conns int64 // connections accepted
	// Flights counts the client's turns: each time the client sends after
	// the host last sent (or first), which on a link with latency starts a
	// round trip. Background traffic (window adjustments) counts too, so it
	// is an upper bound on the round trips a client waited for.
	Flights   int64
	BytesUp   int64 // client to host
	BytesDown int64 // host to client
}

// Proxy relays TCP connections from its listener to one upstream address
// through the toxics of a Shape.
type Proxy struct {
	upstream string
	shape    Shape
	ln       net.Listener

	conns, flights, up, down atomic.Int64

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a proxy on listen (host:port; port 0 picks one) that relays
// to upstream through s.
func Listen(listen, upstream string, s Shape) (*Proxy, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("link: listen for %s: %w", upstream, err)
	}
	p := &Proxy{upstream: upstream, shape: s, ln: ln, open: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Upstream is the address the proxy relays to.
func (p *Proxy) Upstream() string { return p.upstream }

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{Conns: p.conns.Load(), Flights: p.flights.Load(), BytesUp: p.up.Load(), BytesDown: p.down.Load()}
}

// Close stops accepting, cuts every open connection and waits until every
// goroutine of the proxy has returned.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track registers c so that Close cuts it; false when the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: try again
			continue
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle relays one client connection.
func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	defer client.Close()
	// The handshake's round trip: the client's connect returned at once.
	if rtt := p.shape.RTT(); rtt > 0 {
		time.Sleep(rtt)
	}
	host, err := net.DialTimeout("tcp", p.upstream, 10*time.Second)
	if err != nil {
		return // the client sees its connection closed, as a refused dial would look
	}
	if !p.track(host) {
		_ = host.Close()
		return
	}
	defer p.untrack(host)
	defer host.Close()

	var last atomic.Int32 // 0: nothing yet, 1: client sent last, 2: host sent last
	onUp := func(n int) {
		p.up.Add(int64(n))
		if last.Swap(1) != 1 {
			p.flights.Add(1)
		}
	}
	onDown := func(n int) {
		p.down.Add(int64(n))
		last.Store(2)
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(client, host, onUp); done <- struct{}{} }()
	go func() { p.pipe(host, client, onDown); done <- struct{}{} }()
	<-done
	<-done
}

// pipe copies src to dst through the shape's toxics, then half-closes dst.
// Chain: src → [latency] → [bandwidth] → dst, as Toxiproxy's ToxicLink
// builds it (latency first, so that a chunk's transmission time comes on top
// of its delay).
func (p *Proxy) pipe(src, dst net.Conn, count func(int)) {
	var chain []*toxics.ToxicWrapper
	if p.shape.Latency > 0 {
		chain = append(chain, &toxics.ToxicWrapper{Toxicity: 1, Type: "latency",
			Toxic: &toxics.LatencyToxic{Latency: p.shape.Latency.Milliseconds(), Jitter: p.shape.Jitter.Milliseconds()}})
	}
	if p.shape.Bandwidth > 0 {
		chain = append(chain, &toxics.ToxicWrapper{Toxicity: 1, Type: "bandwidth",
			Toxic: &toxics.BandwidthToxic{Rate: max(1, p.shape.Bandwidth/1000)}})
	}
	// The input channel is buffered like Toxiproxy's (the latency toxic's
	// buffer size), so chunks in flight wait in parallel, not in turn.
	in := make(chan *stream.StreamChunk, 1024)
	last := in
	for _, t := range chain {
		next := make(chan *stream.StreamChunk)
		stub := toxics.NewToxicStub(last, next)
		go stub.Run(t)
		last = next
	}
	out := stream.NewChanReader(last)
	w := stream.NewChanWriter(in)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				count(n)
				_, _ = w.Write(buf[:n])
			}
			if err != nil {
				break
			}
		}
		_ = w.Close()
	}()
	if _, err := io.Copy(dst, out); err != nil {
		// dst is gone: cut src too, and drain so the toxics unwind.
		_ = src.Close()
		_, _ = io.Copy(io.Discard, out)
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
