package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/integration/lab"
)

// TestDirectConfig: the baseline's ssh_config reaches each host on its own
// address and port, everything else as the lab's (keys, known_hosts).
func TestDirectConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := `# plan lab 3 (light)

Host plab3-h1
  HostName 10.77.3.1
  Port 2201
  HostKeyAlias plab3-h1
  User root
  IdentityFile /x/id_ed25519

Host plab3-h2
  HostName 10.77.3.1
  Port 2202
  HostKeyAlias plab3-h2
  User root
`
	p := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &lab.Lab{SSHConfig: p, Hosts: []*lab.Host{
		{Name: "h1", Alias: "plab3-h1", Address: "10.77.3.11", Port: 22},
		{Name: "h2", Alias: "plab3-h2", Address: "10.77.3.12", Port: 22},
	}}
	b := &bench{cfg: &config{out: dir}, lab: l, sshConfig: p}
	d, err := b.direct()
	if err != nil {
		t.Fatal(err)
	}
	if b.sshConfig != p || d.sshConfig == p {
		t.Fatalf("direct changed the original (%s) or kept its config (%s)", b.sshConfig, d.sshConfig)
	}
	got, err := os.ReadFile(d.sshConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Host plab3-h1\n  HostName 10.77.3.11\n  Port 22\n  HostKeyAlias plab3-h1\n  User root\n  IdentityFile /x/id_ed25519\n",
		"Host plab3-h2\n  HostName 10.77.3.12\n  Port 22\n",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("direct ssh_config lacks\n%s\ngot:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "10.77.3.1\n") || strings.Contains(string(got), "220") {
		t.Errorf("direct ssh_config still names a proxy:\n%s", got)
	}
}

func TestRoundTripLimitAndShape(t *testing.T) {
	if got := roundTripLimit(30 * time.Millisecond); got != 750*time.Millisecond {
		t.Errorf("W1 limit at 30 ms = %s, want 750ms (5 set-up + 20 steps)", got)
	}
	s, err := linkShape(&config{rtt: 30 * time.Millisecond, jitter: 2 * time.Millisecond, bandwidth: "1gbit"})
	if err != nil || s.Latency != 15*time.Millisecond || s.Bandwidth != 125_000_000 {
		t.Errorf("linkShape(30ms, 2ms, 1gbit) = %+v, %v", s, err)
	}
	if _, err := linkShape(&config{rtt: 3 * time.Millisecond}); err == nil {
		t.Error("an odd RTT (1.5 ms each way) was accepted")
	}
}

// TestW6Markdown: per-host growth is computed against the host count, and
// a figure that grows faster than the hosts is marked as missing the goal.
func TestW6Markdown(t *testing.T) {
	r := &report{W6Hosts: [2]int{24, 240}, Samples: map[string]series{
		"w6/plan-small": {{Wall: time.Second, CPU: 120 * time.Millisecond, MaxRSS: 24 << 10, FDs: 60, Threads: 10}},
		"w6/plan":       {{Wall: 4 * time.Second, CPU: 1200 * time.Millisecond, MaxRSS: 480 << 10, FDs: 600, Threads: 12}},
	}}
	md := r.markdown()
	if strings.Contains(md, "| workload | tool |") {
		t.Errorf("W6 alone printed the W1-W3 table's empty header:\n%s", md)
	}
	for _, want := range []string{
		"| plan CPU per step | 1.00 ms | 1.00 ms | 10.00× | 1.00× | yes |",
		"| peak RSS per host | 1.000 MiB | 2.000 MiB | 20.00× | 2.00× | **no** |",
		"| peak open fds per host | 2.50 | 2.50 | 10.00× | 1.00× | yes |",
		"| peak threads per host | 0.42 | 0.05 | 1.20× | 0.12× | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("W6 table lacks %q:\n%s", want, md)
		}
	}
}
