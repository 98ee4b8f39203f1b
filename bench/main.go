// Command bench runs plan's benchmarks next to their baselines, in one
// invocation, on the same lab hosts, and prints a table of medians and ratios
// (docs/performance.md explains the method):
//
//	go run ./bench                 # W1, W2, W3 (needs root: it makes a lab)
//	go run ./bench -w4             # also W4, the scratch plan on 3 systemd hosts
//	go run ./bench -only w1 -reps 3
//	go run ./bench -only w1,w3 -rtt 30ms  # every host behind a 30 ms link proxy
//
// W1 overhead: 20 chained tasks on 8 hosts; plan vs the OpenSSH floor (one
// ControlMaster per host, one ssh per step) vs ansible-playbook.
// W2 transfer: 256 MiB to 4 hosts; plan vs scp in parallel; plus the re-push
// of the unchanged file vs one `sha256sum` per host over ssh.
// W3 scale: W1 on 64 hosts vs 8 (plan, and the floor for reference), and
// plan's peak RSS.
// With -rtt (and -jitter, -bandwidth) every tool reaches the hosts through
// a link proxy per host (integration/lab/linkem); W1 is then also run
// directly on the same hosts, and plan is reported against W1's round-trip
// limit (wan.go).
// W4: the scratch plan at default parallelism vs --parallel 1, with its
// critical path from the JSON events.
//
// The results go to stdout and to OUT/results.md (OUT = bench/out, git-ignored);
// raw samples to OUT/samples.json; CPU and heap profiles of plan on W1 and W3
// to OUT/profiles/.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/plan-dev/plan/integration/lab"
)

type config struct {
	reps       int
	small      int // W1 hosts
	large      int // W3 hosts
	w2Hosts    int
	w6Hosts    int
	w2Size     int64
	only       map[string]bool
	w4         bool
	w4Reps     int
	ansible    bool
	profile    bool
	out        string
	root       string // the repository
	planBin    string
	ansibleBin string
	// The shaped link in front of every host (wan.go): RTT (split into
	// latency each way), jitter, bandwidth. Zero: the bare bridge.
	rtt, jitter time.Duration
	bandwidth   string
	baseline    bool // with a shaped link, also run W1 directly (no added latency)
}

func main() {
	var cfg config
	var only string
	flag.IntVar(&cfg.reps, "reps", 5, "repetitions of every measurement (medians are reported)")
	flag.IntVar(&cfg.small, "hosts", 8, "W1 hosts")
	flag.IntVar(&cfg.large, "scale-hosts", 64, "W3 hosts")
	flag.IntVar(&cfg.w2Hosts, "w2-hosts", 4, "W2 hosts")
	flag.IntVar(&cfg.w6Hosts, "w6-hosts", lab.MaxHosts, "W6 hosts (-only w6; compared with a tenth of them)")
	w2MiB := flag.Int("w2-mib", 256, "W2 file size in MiB")
	flag.StringVar(&only, "only", "w1,w2,w3", "workloads to run (comma-separated: w1,w2,w3,w4,w6)")
	flag.BoolVar(&cfg.w4, "w4", false, "also run W4 (the scratch plan on a 3-host systemd lab; minutes per run)")
	flag.IntVar(&cfg.w4Reps, "w4-reps", 1, "W4 repetitions")
	flag.BoolVar(&cfg.ansible, "ansible", true, "run the Ansible baseline (installs Debian's ansible when missing)")
	flag.BoolVar(&cfg.profile, "profile", true, "take CPU and heap profiles of plan on W1 and W3")
	flag.StringVar(&cfg.out, "out", "", "output directory (default bench/out)")
	flag.DurationVar(&cfg.rtt, "rtt", 0, "round-trip time added between the tools and every host (a link proxy per host; e.g. 30ms)")
	flag.DurationVar(&cfg.jitter, "jitter", 0, "± jitter of the added latency, per direction (with -rtt)")
	flag.StringVar(&cfg.bandwidth, "bandwidth", "", "bandwidth cap per direction between the tools and every host (e.g. 1gbit)")
	flag.BoolVar(&cfg.baseline, "baseline", true, "with -rtt: also run W1 directly, without the added latency, for the round trips per step")
	cpEvents := flag.String("critical-path", "", "only print W4's critical path from saved JSON events (with -graph)")
	cpGraph := flag.String("graph", "", "the saved `plan graph --nodes hosts --format dot` for -critical-path")
	flag.Parse()
	if *cpEvents != "" {
		if err := printCriticalPath(*cpEvents, *cpGraph); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	cfg.w2Size = int64(*w2MiB) << 20
	cfg.only = map[string]bool{}
	for _, w := range strings.Split(only, ",") {
		if w = strings.TrimSpace(strings.ToLower(w)); w != "" {
			cfg.only[w] = true
		}
	}
	if cfg.w4 {
		cfg.only["w4"] = true
	}
	if err := run(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(cfg *config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (the lab makes network namespaces and mounts)")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	cfg.root = root
	if cfg.out == "" {
		cfg.out = filepath.Join(root, "bench", "out")
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg.planBin = filepath.Join(cfg.out, "plan")
	logf("building plan into %s", cfg.planBin)
	build := exec.CommandContext(ctx, "go", "build", "-o", cfg.planBin, "./cmd/plan")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	if cfg.ansible && (cfg.only["w1"] || cfg.only["w3"]) {
		if err := ensureAnsible(ctx, cfg); err != nil {
			return err
		}
	}

	rep := &report{Date: time.Now().UTC(), Machine: machine(), Reps: cfg.reps}
	defer func() {
		if err := rep.write(cfg.out); err != nil {
			logf("writing the report: %v", err)
		}
	}()

	need := 0
	if cfg.only["w1"] {
		need = max(need, cfg.small)
	}
	if cfg.only["w2"] {
		need = max(need, cfg.w2Hosts)
	}
	if cfg.only["w3"] {
		need = max(need, cfg.large, cfg.small)
	}
	if cfg.only["w6"] {
		if cfg.w6Hosts < 10 || cfg.w6Hosts > lab.MaxHosts {
			return fmt.Errorf("-w6-hosts must be 10..%d (one lab's /24)", lab.MaxHosts)
		}
		need = max(need, cfg.w6Hosts)
	}
	if need > 0 {
		if err := lightWorkloads(ctx, cfg, rep, need); err != nil {
			return err
		}
	}
	if cfg.only["w4"] {
		if err := scratchBench(ctx, cfg, rep); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// lightWorkloads runs W1-W3 on one lab of light hosts, torn down on return
// (before W4 starts its own systemd lab).
func lightWorkloads(ctx context.Context, cfg *config, rep *report, need int) error {
	logf("lab: %d light hosts", need)
	upCtx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	shape, err := linkShape(cfg)
	if err != nil {
		cancel()
		return err
	}
	l, err := lab.Up(upCtx, lab.Options{Hosts: need, Name: "bench", Logf: logf, Link: shape})
	cancel()
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	defer func() {
		logf("lab: tearing down")
		if err := l.Close(); err != nil {
			logf("lab close: %v", err)
		}
	}()
	b := &bench{cfg: cfg, lab: l, rep: rep, sshConfig: l.SSHConfig}
	labCPU = hostsCPU(l)
	rep.Link = shape
	if cfg.only["w1"] || cfg.only["w3"] {
		if err := b.overhead(ctx); err != nil {
			return err
		}
	}
	if cfg.only["w2"] {
		if err := b.transfer(ctx); err != nil {
			return err
		}
	}
	if cfg.only["w6"] {
		if err := b.many(ctx); err != nil {
			return err
		}
	}
	if cfg.profile && (cfg.only["w1"] || cfg.only["w3"]) {
		if err := b.profiles(ctx); err != nil {
			logf("profiles: %v", err)
		}
	}
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w (run from the repository)", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func ensureAnsible(ctx context.Context, cfg *config) error {
	if p, err := exec.LookPath("ansible-playbook"); err == nil {
		cfg.ansibleBin = p
		return nil
	}
	logf("installing Debian's ansible (apt-get install -y ansible)")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "ansible")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get install ansible: %w (or run with -ansible=false)", err)
	}
	p, err := exec.LookPath("ansible-playbook")
	cfg.ansibleBin = p
	return err
}

func machine() string {
	var parts []string
	if b, err := os.ReadFile("/etc/debian_version"); err == nil {
		parts = append(parts, "Debian "+strings.TrimSpace(string(b)))
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var rel []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			rel = append(rel, byte(c))
		}
		parts = append(parts, "kernel "+string(rel))
	}
	parts = append(parts, fmt.Sprintf("%d CPUs", runtime.NumCPU()))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		parts = append(parts, fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20)))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			parts = append(parts, "load "+strings.Join(f[:3], " ")+" at start")
		}
	}
	parts = append(parts, runtime.Version())
	if out, err := exec.Command("ssh", "-V").CombinedOutput(); err == nil {
		parts = append(parts, strings.Fields(string(out))[0])
	}
	return strings.Join(parts, ", ")
}
