package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/plan-dev/plan/integration/lab"
	"github.com/plan-dev/plan/integration/lab/linkem"
)

// setupRTTs is the fewest round trips an SSH connection needs before its
// first command: the TCP handshake; the version strings with KEXINIT (the
// client sends both without waiting); the ECDH key exchange; the service
// request with a public-key login carrying its signature (pipelined); the
// session channel's open. A command then costs one more: the request goes
// out, its output comes back.
const setupRTTs = 5

// w1Steps is the number of chained steps per host of W1 (and W3).
const w1StepCount = 20

// roundTripLimit is W1's least wall time on a link of the given RTT: the
// hosts run in parallel, each needs its set-up and one round trip per step.
func roundTripLimit(rtt time.Duration) time.Duration {
	return time.Duration(setupRTTs+w1StepCount) * rtt
}

// linkShape turns -rtt, -jitter and -bandwidth into the lab's link.
func linkShape(cfg *config) (lab.LinkShape, error) {
	s := lab.LinkShape{Latency: cfg.rtt / 2, Jitter: cfg.jitter}
	if cfg.bandwidth != "" {
		bps, err := lab.ParseBandwidth(cfg.bandwidth)
		if err != nil {
			return s, fmt.Errorf("-bandwidth: %w", err)
		}
		s.Bandwidth = bps
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("-rtt/-jitter/-bandwidth: %w (the RTT is split into whole milliseconds each way)", err)
	}
	return s, nil
}

// direct is b with an ssh_config that reaches the hosts on their own
// addresses, bypassing the link proxies: the zero-latency baseline on the
// same hosts in the same invocation.
func (b *bench) direct() (*bench, error) {
	cfg, err := os.ReadFile(b.lab.SSHConfig)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	var host *lab.Host
	for _, line := range strings.Split(string(cfg), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Host":
			host = b.lab.Host(f[1])
		case len(f) == 2 && f[0] == "HostName" && host != nil:
			line = "  HostName " + host.Address
		case len(f) == 2 && f[0] == "Port" && host != nil:
			line = "  Port " + strconv.Itoa(host.Port)
		}
		out.WriteString(line + "\n")
	}
	p := filepath.Join(b.cfg.out, "ssh_config-direct")
	if err := os.WriteFile(p, []byte(out.String()), 0o644); err != nil {
		return nil, err
	}
	d := *b
	d.sshConfig = p
	return &d, nil
}

// linkCounts sums what the hosts' link proxies have counted so far.
func (b *bench) linkCounts(hosts []*lab.Host) linkem.Stats {
	var sum linkem.Stats
	for _, h := range hosts {
		if st, ok := b.lab.LinkStats(h); ok {
			sum.Conns += st.Conns
			sum.Flights += st.Flights
			sum.BytesUp += st.BytesUp
			sum.BytesDown += st.BytesDown
		}
	}
	return sum
}
