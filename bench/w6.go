package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/plan-dev/plan/integration/lab"
)

// w6Steps is the number of chained steps per host of bench/plans/w6.
const w6Steps = 5

const w6Check = `test "$(wc -l < /tmp/bench/log)" = 5`

// peaks samples a running process's open file descriptors and threads.
type peaks struct {
	mu           sync.Mutex
	fds, threads int
}

// watch samples pid every 20 ms until stop is closed.
func (p *peaks) watch(pid int, stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			th := 0
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "Threads:"); ok {
						fmt.Sscan(strings.TrimSpace(v), &th)
					}
				}
			}
			p.mu.Lock()
			p.fds, p.threads = max(p.fds, len(ents)), max(p.threads, th)
			p.mu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// planW6 runs bench/plans/w6 on hosts (no run state: what is measured is
// the transport and the executor), sampling plan's fds and threads.
func (b *bench) planW6(hosts []*lab.Host) func(ctx context.Context) (sample, error) {
	return func(ctx context.Context) (sample, error) {
		logDir, err := os.MkdirTemp(b.cfg.out, "logs-")
		if err != nil {
			return sample{}, err
		}
		defer os.RemoveAll(logDir)
		cmd := exec.CommandContext(ctx, b.cfg.planBin, "run", filepath.Join(b.cfg.root, "bench", "plans", "w6"),
			"--no-state", "--output", "json", "--log-dir", logDir,
			"-F", b.sshConfig, "-H", "all="+aliases(hosts))
		cmd.Dir = b.cfg.out
		var pk peaks
		stop := make(chan struct{})
		done := make(chan struct{})
		s, out, err := runCmdWatch(ctx, cmd, func(pid int) {
			go func() {
				defer close(done)
				pk.watch(pid, stop)
			}()
		})
		close(stop)
		if s.Wall > 0 && cmd.Process != nil {
			<-done
		}
		s.FDs, s.Threads = pk.fds, pk.threads
		if err != nil {
			return s, fmt.Errorf("plan run: %v\n%s", err, tail(out, 5))
		}
		return s, nil
	}
}

// many measures W6: plan on every host of the lab and on a tenth of them,
// interleaved, for what grows with the host count.
func (b *bench) many(ctx context.Context) error {
	large := b.lab.Hosts[:b.cfg.w6Hosts]
	small := b.lab.Hosts[:max(1, b.cfg.w6Hosts/10)]
	b.rep.W6Hosts = [2]int{len(small), len(large)}
	tools := []struct {
		name  string
		hosts []*lab.Host
	}{{"w6/plan-small", small}, {"w6/plan", large}}
	for r := 0; r < b.cfg.reps; r++ {
		for _, t := range rotate(tools, r) {
			if err := b.onHosts(ctx, t.hosts, "rm -rf /tmp/bench"); err != nil {
				return err
			}
			s, err := b.planW6(t.hosts)(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if err := b.onHosts(ctx, t.hosts, w6Check); err != nil {
				return fmt.Errorf("%s left a host wrong: %w", t.name, err)
			}
			logf("rep %d/%d %-14s %d hosts %7.2fs  cpu %6.2fs  rss %5.1f MiB  fds %d  threads %d", r+1, b.cfg.reps, t.name, len(t.hosts),
				s.Wall.Seconds(), s.CPU.Seconds(), rssMiB(s), s.FDs, s.Threads)
			b.rep.add(t.name, s)
		}
	}
	return nil
}

// w6Markdown renders W6: per-host and per-step figures at both host counts
// and how each grew against the host count.
func (r *report) w6Markdown() string {
	small, ok1 := r.Samples["w6/plan-small"]
	large, ok2 := r.Samples["w6/plan"]
	if !ok1 || !ok2 {
		return ""
	}
	var b strings.Builder
	ns, nl := float64(r.W6Hosts[0]), float64(r.W6Hosts[1])
	fmt.Fprintf(&b, "\n| W6: plan, %d steps per host | %d hosts | %d hosts | growth (%.0f× the hosts) | per host: large / small | goal: ≤ 1× per host |\n|---|---:|---:|---:|---:|---|\n",
		w6Steps, r.W6Hosts[0], r.W6Hosts[1], nl/ns)
	row := func(name string, f func(sample) float64, unit string, perStep bool) {
		a, c := small.median(f), large.median(f)
		if a == 0 {
			return
		}
		div := func(v, n float64) float64 {
			if perStep {
				return v / (n * w6Steps)
			}
			return v / n
		}
		g := c / a
		per := div(c, nl) / div(a, ns)
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f× | %.2f× | %s |\n", name, fmtUnit(div(a, ns), unit), fmtUnit(div(c, nl), unit), g, per, yes(per <= 1.05))
	}
	fmt.Fprintf(&b, "| wall (median) | %.2f s | %.2f s | %.2f× | — | — |\n", small.median(wallS), large.median(wallS), large.median(wallS)/small.median(wallS))
	row("plan CPU per step", cpuS, "ms", true)
	row("peak RSS per host", rssMiB, "MiB", false)
	row("peak open fds per host", func(s sample) float64 { return float64(s.FDs) }, "", false)
	row("peak threads per host", func(s sample) float64 { return float64(s.Threads) }, "", false)
	fmt.Fprintf(&b, "\nmachine busy %.1f / %.1f CPUs (small / large runs).\n", small.median(busyCPUs), large.median(busyCPUs))
	return b.String()
}

func fmtUnit(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.2f ms", v*1000)
	case "MiB":
		return fmt.Sprintf("%.3f MiB", v)
	}
	return fmt.Sprintf("%.2f", v)
}
