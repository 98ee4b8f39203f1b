package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/plan-dev/plan/executor"
	"github.com/plan-dev/plan/integration/lab"
)

// scratchResult is W4: the built-in scratch plan on a fresh 3-host systemd
// lab (one master, two workers), at the default parallelism and with
// --parallel 1, each on its own fresh lab.
type scratchResult struct {
	Default, Serial time.Duration
	DefaultRuns     []time.Duration
	SerialRuns      []time.Duration
	// CriticalPath is the longest chain of node durations through the
	// dependency graph (the run's lower bound with unbounded parallelism);
	// Path lists its nodes with their durations.
	CriticalPath time.Duration
	Path         []pathNode
	Nodes        int
	// SerialCriticalPath is the critical path computed with the serial
	// run's (uncontended) node durations; SerialWork and DefaultWork sum
	// every node's duration in each run.
	SerialCriticalPath, SerialWork, DefaultWork time.Duration
	// DefaultBusy and SerialBusy are, per run, how many CPUs the whole
	// machine (the lab's hosts included) kept busy on average.
	DefaultBusy, SerialBusy []float64
}

func sumDurations(evs []executor.Event) time.Duration {
	var d time.Duration
	for _, ev := range evs {
		if ev.Kind == executor.EventNodeFinished {
			d += ev.Duration
		}
	}
	return d
}

type pathNode struct {
	Node     string        `json:"node"`
	Duration time.Duration `json:"duration_ns"`
}

func (w *scratchResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "W4 critical path (median default run, %d nodes; longest chain of node durations through the graph): %.1f s of %.1f s wall. "+
		"Sum of node durations: %.1f s at default parallelism, %.1f s with --parallel 1 (%.1f s wall). "+
		"The critical path with the serial run's node durations (no contention between nodes): %.1f s, i.e. %.2f× the serial wall time.\n\n",
		w.Nodes, w.CriticalPath.Seconds(), w.Default.Seconds(), w.DefaultWork.Seconds(), w.SerialWork.Seconds(), w.Serial.Seconds(),
		w.SerialCriticalPath.Seconds(), w.SerialCriticalPath.Seconds()/max(w.Serial.Seconds(), 1e-9))
	if len(w.DefaultBusy) > 0 && len(w.SerialBusy) > 0 {
		fmt.Fprintf(&b, "The machine's CPUs (%d, the hosts' included) were busy %s on average during the default runs and %s during the --parallel 1 runs.\n\n",
			runtime.NumCPU(), floats(w.DefaultBusy), floats(w.SerialBusy))
	}
	b.WriteString("| node | duration |\n|---|---:|\n")
	for _, p := range w.Path {
		fmt.Fprintf(&b, "| %s | %.1f s |\n", p.Node, p.Duration.Seconds())
	}
	return b.String()
}

func scratchBench(ctx context.Context, cfg *config, rep *report) error {
	artifacts := envOr("PLAN_ARTIFACTS_DIR", "/var/cache/plan-artifacts")
	logf("W4: artifacts in %s (built when missing)", artifacts)
	build := exec.CommandContext(ctx, "go", "run", "./integration/artifacts/cmd/build-artifacts", "-dir", artifacts)
	build.Dir, build.Stdout, build.Stderr = cfg.root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build-artifacts: %w", err)
	}
	res := &scratchResult{}
	modes := []string{"default", "serial"}
	type runEvents struct {
		wall time.Duration
		evs  []executor.Event
	}
	var defaults, serials []runEvents
	var deps map[string][]string
	for r := 0; r < cfg.w4Reps; r++ {
		for _, mode := range rotate(modes, r) {
			smp, evs, g, err := scratchOnce(ctx, cfg, artifacts, mode == "serial")
			if err != nil {
				return fmt.Errorf("W4 %s: %w", mode, err)
			}
			d := smp.Wall
			logf("W4 rep %d/%d %-8s %.1fs, machine busy %.2f of %d CPUs", r+1, cfg.w4Reps, mode, d.Seconds(), busyCPUs(smp), runtime.NumCPU())
			if mode == "serial" {
				res.SerialBusy = append(res.SerialBusy, busyCPUs(smp))
			} else {
				res.DefaultBusy = append(res.DefaultBusy, busyCPUs(smp))
			}
			deps = g
			if mode == "serial" {
				res.SerialRuns = append(res.SerialRuns, d)
				serials = append(serials, runEvents{d, evs})
			} else {
				res.DefaultRuns = append(res.DefaultRuns, d)
				defaults = append(defaults, runEvents{d, evs})
			}
		}
	}
	// The critical path of the median default run, and the same
	// computation on the median serial run's node durations: what the
	// critical path would be if running nodes side by side cost nothing
	// (on this lab every host shares the machine's CPUs with the others).
	median := func(rs []runEvents) runEvents {
		sort.Slice(rs, func(i, j int) bool { return rs[i].wall < rs[j].wall })
		return rs[(len(rs)-1)/2]
	}
	md := median(defaults)
	res.Default = md.wall
	res.CriticalPath, res.Path, res.Nodes = criticalPath(md.evs, deps)
	ms := median(serials)
	res.Serial = ms.wall
	res.SerialCriticalPath, _, _ = criticalPath(ms.evs, deps)
	res.SerialWork = sumDurations(ms.evs)
	res.DefaultWork = sumDurations(md.evs)
	rep.mu.Lock()
	rep.W4 = res
	rep.mu.Unlock()
	return nil
}

// scratchOnce brings up a fresh 3-host systemd lab, runs the scratch plan
// on it and tears it down. It returns the wall time of `plan run`, its
// events and the node graph (node -> its dependencies).
func scratchOnce(ctx context.Context, cfg *config, artifacts string, serial bool) (sample, []executor.Event, map[string][]string, error) {
	upCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	l, err := lab.Up(upCtx, lab.Options{Hosts: 3, Systemd: true, Name: "bench-w4", Logf: logf})
	cancel()
	if err != nil {
		return sample{}, nil, nil, fmt.Errorf("lab up: %w", err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			logf("W4 lab close: %v", err)
		}
	}()
	hostArgs := []string{"-H", "masters=" + l.Hosts[0].Alias, "-H", "workers=" + l.Hosts[1].Alias + "," + l.Hosts[2].Alias}
	vars := []string{"--var", "artifacts_dir=" + artifacts, "--var", "node_interface=eth0",
		"--var", "kubelet_fail_cgroup_v1=false", "--var", "containerd_restrict_oom_score_adj=true"}

	g, err := exec.CommandContext(ctx, cfg.planBin, append(append([]string{"graph", "scratch", "--nodes", "hosts", "--format", "dot"}, hostArgs...), vars...)...).Output()
	if err != nil {
		return sample{}, nil, nil, fmt.Errorf("plan graph: %w: %s", err, errText(err))
	}
	deps := parseDot(g)
	os.WriteFile(filepath.Join(cfg.out, "w4-graph.dot"), g, 0o644)

	logDir, err := os.MkdirTemp(cfg.out, "w4-logs-")
	if err != nil {
		return sample{}, nil, nil, err
	}
	args := append([]string{"run", "scratch", "--no-state", "--output", "json", "--log-dir", logDir, "-F", l.SSHConfig}, hostArgs...)
	args = append(args, vars...)
	if serial {
		args = append(args, "--parallel", "1")
	}
	runCtx, cancel := context.WithTimeout(ctx, 45*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, cfg.planBin, args...)
	cmd.Dir = cfg.out
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	s, _, err := runCmd(runCtx, cmd)
	name := "default"
	if serial {
		name = "serial"
	}
	os.WriteFile(filepath.Join(cfg.out, "w4-"+name+"-events.jsonl"), stdout.Bytes(), 0o644)
	if err != nil {
		return s, nil, nil, fmt.Errorf("plan run: %v (logs in %s)\n%s\n%s", err, logDir, tail(stdout.Bytes(), 3), tail(stderr.Bytes(), 5))
	}
	os.RemoveAll(logDir)
	var evs []executor.Event
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var ev executor.Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	return s, evs, deps, nil
}

var (
	dotNode = regexp.MustCompile(`^\s*("[^"]+"|n\d+) \[label="([^"]+)"\]`)
	dotEdge = regexp.MustCompile(`^\s*("[^"]+"|n\d+) -> ("[^"]+"|n\d+)`)
)

// parseDot reads `plan graph --nodes hosts --format dot` into node -> deps.
func parseDot(b []byte) map[string][]string {
	labels := map[string]string{}
	deps := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := dotNode.FindStringSubmatch(line); m != nil {
			labels[m[1]] = m[2]
		} else if m := dotEdge.FindStringSubmatch(line); m != nil {
			from, to := label(labels, m[1]), label(labels, m[2])
			deps[to] = append(deps[to], from)
		}
	}
	return deps
}

// label is a dot node id's label (a quoted id is its own label).
func label(labels map[string]string, id string) string {
	if l, ok := labels[id]; ok {
		return l
	}
	return strings.Trim(id, `"`)
}

// printCriticalPath recomputes W4's critical path from saved events and a
// saved `plan graph --nodes hosts --format dot` (bench -critical-path).
func printCriticalPath(eventsFile, dotFile string) error {
	evData, err := os.ReadFile(eventsFile)
	if err != nil {
		return err
	}
	dot, err := os.ReadFile(dotFile)
	if err != nil {
		return err
	}
	var evs []executor.Event
	for _, line := range bytes.Split(evData, []byte("\n")) {
		var ev executor.Event
		if json.Unmarshal(line, &ev) == nil {
			evs = append(evs, ev)
		}
	}
	w := &scratchResult{}
	w.CriticalPath, w.Path, w.Nodes = criticalPath(evs, parseDot(dot))
	for _, ev := range evs {
		if ev.Kind == executor.EventRunFinished && ev.Summary != nil {
			w.Default = ev.Summary.Duration
		}
	}
	fmt.Print(w.markdown())
	return nil
}

// criticalPath is the longest chain of node durations through the graph.
func criticalPath(evs []executor.Event, deps map[string][]string) (time.Duration, []pathNode, int) {
	dur := map[string]time.Duration{}
	var order []string // nodes in the order they finished: dependencies first
	for _, ev := range evs {
		if ev.Kind == executor.EventNodeFinished {
			dur[ev.Node] = ev.Duration
			order = append(order, ev.Node)
		}
	}
	best := map[string]time.Duration{}
	prev := map[string]string{}
	var end string
	for _, n := range order {
		var bd string
		for _, d := range deps[n] {
			if bd == "" || best[d] > best[bd] {
				bd = d
			}
		}
		if bd != "" {
			prev[n] = bd
		}
		best[n] = best[bd] + dur[n]
		if end == "" || best[n] > best[end] {
			end = n
		}
	}
	var path []pathNode
	for n := end; n != ""; n = prev[n] {
		path = append([]pathNode{{n, dur[n]}}, path...)
	}
	return best[end], path, len(order)
}

func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return tail(ee.Stderr, 5)
	}
	return ""
}

func floats(v []float64) string {
	p := make([]string, len(v))
	for i, x := range v {
		p[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(p, ", ")
}
