package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/plan-dev/plan/integration/lab"
)

var nowFunc = time.Now

// bigFile makes (once) a file of random bytes of the given size.
func bigFile(dir string, size int64) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("big-%dMiB", size>>20))
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		return path, nil
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(path+".tmp", path)
}

// parallelSSH runs one ssh/scp command per host at once and returns the
// wall time of the slowest.
func parallelSSH(ctx context.Context, hosts []*lab.Host, argv func(h *lab.Host) []string) (sample, error) {
	return onEachHost(ctx, hosts, func(h *lab.Host, run func(*exec.Cmd) ([]byte, error)) error {
		a := argv(h)
		if out, err := run(exec.CommandContext(ctx, a[0], a[1:]...)); err != nil {
			return fmt.Errorf("%s: %v: %s", a[0], err, tail(out, 3))
		}
		return nil
	})
}

// onEachHost runs fn for every host at once. fn runs its commands with
// run, whose CPU (runCmd's) is added up; the sample's wall time and machine
// busy time span all of them. The first host's error, in the hosts'
// order, is returned.
func onEachHost(ctx context.Context, hosts []*lab.Host, fn func(h *lab.Host, run func(*exec.Cmd) ([]byte, error)) error) (sample, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	var mu sync.Mutex
	var total sample
	run := func(cmd *exec.Cmd) ([]byte, error) {
		s, out, err := runCmd(ctx, cmd)
		mu.Lock()
		total.CPU += s.CPU
		mu.Unlock()
		return out, err
	}
	start, busy := nowFunc(), machineBusy()
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(h, run)
		}()
	}
	wg.Wait()
	total.Wall, total.Busy = nowFunc().Sub(start), machineBusy()-busy
	for _, err := range errs {
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// transfer measures W2: the big file to W2's hosts by plan and by scp, in
// parallel; then plan's re-push of the unchanged file next to one
// `sha256sum` per host over ssh (what a checksum alone costs).
func (b *bench) transfer(ctx context.Context) error {
	hosts := b.lab.Hosts[:b.cfg.w2Hosts]
	src, err := bigFile(b.cfg.out, b.cfg.w2Size)
	if err != nil {
		return err
	}
	planPush := func(ctx context.Context, changed bool) (sample, error) {
		logDir, err := os.MkdirTemp(b.cfg.out, "logs-")
		if err != nil {
			return sample{}, err
		}
		defer os.RemoveAll(logDir)
		before := wireBytes(hosts)
		cmd := exec.CommandContext(ctx, b.cfg.planBin, "run", filepath.Join(b.cfg.root, "bench", "plans", "w2"),
			"--no-state", "--output", "json", "--log-dir", logDir, "--var", "source="+src,
			"-F", b.sshConfig, "-H", "all="+aliases(hosts))
		cmd.Dir = b.cfg.out
		s, out, err := runCmd(ctx, cmd)
		s.Bytes = wireBytes(hosts) - before
		if err != nil {
			return s, fmt.Errorf("plan run: %v\n%s", err, tail(out, 5))
		}
		if n := strings.Count(string(out), `"event":"node_finished","node":"push[`); n != len(hosts) {
			return s, fmt.Errorf("plan run: %d nodes finished, want %d", n, len(hosts))
		}
		if got := strings.Contains(string(out), `"status":"changed"`); got != changed {
			return s, fmt.Errorf("plan run: changed = %v, want %v\n%s", got, changed, tail(out, 3))
		}
		return s, nil
	}
	scp := func(ctx context.Context) (sample, error) {
		before := wireBytes(hosts)
		s, err := parallelSSH(ctx, hosts, func(h *lab.Host) []string {
			return append(append([]string{"scp", "-q"}, b.sshBase("")...), src, h.Alias+":/root/bench-big-scp")
		})
		s.Bytes = wireBytes(hosts) - before
		return s, err
	}
	sum := func(ctx context.Context) (sample, error) {
		before := wireBytes(hosts)
		s, err := parallelSSH(ctx, hosts, func(h *lab.Host) []string {
			return append(append([]string{"ssh"}, b.sshBase("")...), h.Alias, "openssl dgst -sha256 -r /root/bench-big")
		})
		s.Bytes = wireBytes(hosts) - before
		return s, err
	}
	check := fmt.Sprintf(`for f in /root/bench-big /root/bench-big-scp; do test ! -e $f || test "$(stat -c %%s $f)" = %d || exit 1; done`, b.cfg.w2Size)
	b.rep.setExtra("w2_bytes", float64(b.cfg.w2Size)*float64(len(hosts)))
	pushes := []tool{{"w2/plan", func(ctx context.Context) (sample, error) { return planPush(ctx, true) }}, {"w2/scp", scp}}
	for r := 0; r < b.cfg.reps; r++ {
		if err := b.onHosts(ctx, hosts, "rm -f /root/bench-big /root/bench-big-scp"); err != nil {
			return err
		}
		for _, t := range rotate(pushes, r) {
			s, err := t.run(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if err := b.onHosts(ctx, hosts, check); err != nil {
				return fmt.Errorf("%s left a wrong file: %w", t.name, err)
			}
			logf("rep %d/%d %-12s %7.2fs  %6.1f MB/s  cpu %6.2fs  rss %5.1f MiB", r+1, b.cfg.reps, t.name, s.Wall.Seconds(),
				float64(b.cfg.w2Size)*float64(len(hosts))/s.Wall.Seconds()/1e6, s.CPU.Seconds(), rssMiB(s))
			b.rep.add(t.name, s)
		}
		// The file is in place now: a re-push only compares checksums.
		for _, t := range rotate([]tool{{"w2/plan-repush", func(ctx context.Context) (sample, error) { return planPush(ctx, false) }}, {"w2/sha256sum", sum}}, r) {
			s, err := t.run(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			logf("rep %d/%d %-12s %7.2fs  wire %d bytes  cpu %6.2fs", r+1, b.cfg.reps, t.name, s.Wall.Seconds(), s.Bytes, s.CPU.Seconds())
			b.rep.add(t.name, s)
		}
	}
	return b.onHosts(ctx, hosts, "rm -f /root/bench-big /root/bench-big-scp")
}
