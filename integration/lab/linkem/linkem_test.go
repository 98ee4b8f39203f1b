package linkem

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// echoServer answers every line with the same line, on 127.0.0.1.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, r *bufio.Reader, c net.Conn, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line != msg+"\n" {
		t.Fatalf("echo: got %q, want %q", line, msg)
	}
	return time.Since(start)
}

// TestLatencyIsThere measures what a client sees through the proxy: the
// connect plus first echo costs the handshake's RTT and the echo's RTT, and
// every later echo at least one RTT.
func TestLatencyIsThere(t *testing.T) {
	shape := Shape{Latency: 20 * time.Millisecond, Jitter: 2 * time.Millisecond}
	p, err := Listen("127.0.0.1:0", echoServer(t), shape)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rtt := shape.RTT()
	// The jitter may take up to Jitter off each of the two directions.
	floor := rtt - 2*shape.Jitter

	start := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip(t, r, c, "hello")
	first := time.Since(start) // the connect included
	if first < rtt+floor {
		t.Errorf("connect + first echo took %s, want ≥ %s (handshake RTT + echo RTT)", first, rtt+floor)
	}
	var best time.Duration
	for i := 0; i < 5; i++ {
		d := roundTrip(t, r, c, strings.Repeat("x", i*1000))
		if d < floor {
			t.Errorf("echo %d took %s, want ≥ %s (RTT %s)", i, d, floor, rtt)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	// A loose upper bound on the fastest echo: the proxy must not add whole
	// extra round trips (the machine may be loaded, hence the slack).
	if best > 2*rtt+500*time.Millisecond {
		t.Errorf("fastest echo took %s, far above the RTT %s", best, rtt)
	}
	st := p.Stats()
	if st.Conns != 1 || st.Flights != 6 {
		t.Errorf("stats: %+v, want 1 connection and 6 client flights (one per echo)", st)
	}
	if st.BytesUp != st.BytesDown || st.BytesUp == 0 {
		t.Errorf("stats: %+v, want equal bytes up and down for an echo", st)
	}
}

// TestBandwidthIsThere sends 200 KB through a 4 Mbit/s (500 KB/s) link.
func TestBandwidthIsThere(t *testing.T) {
	bw, err := ParseBandwidth("4mbit")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Listen("127.0.0.1:0", echoServer(t), Shape{Bandwidth: bw})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 200_000
	start := time.Now()
	go func() { _, _ = c.Write(make([]byte, size)); c.(*net.TCPConn).CloseWrite() }()
	n, err := io.Copy(io.Discard, c)
	d := time.Since(start)
	if err != nil || n != size {
		t.Fatalf("echoed %d bytes (%v), want %d", n, err, size)
	}
	// Both directions are capped, but they overlap: at least size/rate.
	if want := time.Duration(float64(size) / float64(bw) * float64(time.Second)); d < want*9/10 {
		t.Errorf("%d bytes through a %s link took %s, want ≥ %s", size, FormatBandwidth(bw), d, want*9/10)
	}
}

// TestCloseCutsEverything: after Close nothing listens, open connections
// are cut and the proxy's goroutines are gone.
func TestCloseCutsEverything(t *testing.T) {
	upstream := echoServer(t)
	before := runtime.NumGoroutine()
	p, err := Listen("127.0.0.1:0", upstream, Shape{Latency: 5 * time.Millisecond, Bandwidth: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, bufio.NewReader(c), c, "x")
		conns = append(conns, c)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection %d still open after Close", i)
		}
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Close", p.Addr())
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) { // +1: the echo server's
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]int64{
		"1gbit": 125_000_000, "100mbit": 12_500_000, "1.5mbit": 187_500, "64kbit": 8000,
		"10mbps": 10_000_000, "1GBit": 125_000_000, "8000bit": 1000,
	} {
		got, err := ParseBandwidth(in)
		if err != nil || got != want {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "gbit", "10", "10 parsecs", "-1mbit", "0mbit"} {
		if _, err := ParseBandwidth(in); err == nil {
			t.Errorf("ParseBandwidth(%q): no error", in)
		}
	}
	if got := FormatBandwidth(125_000_000); got != "1gbit" {
		t.Errorf("FormatBandwidth(1gbit) = %q", got)
	}
}

func TestValidate(t *testing.T) {
	bad := []Shape{
		{Latency: 1500 * time.Microsecond},
		{Latency: 10 * time.Millisecond, Jitter: 10 * time.Millisecond},
		{Jitter: 2 * time.Millisecond},
		{Bandwidth: 10},
		{Latency: -time.Millisecond},
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	if err := (Shape{Latency: 15 * time.Millisecond, Jitter: 2 * time.Millisecond, Bandwidth: 125e6}).Validate(); err != nil {
		t.Error(err)
	}
}
