package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/plan-dev/plan/integration/lab/linkem"
)

// report collects the samples of every tool and renders the table.
type report struct {
	mu      sync.Mutex
	Date    time.Time          `json:"date"`
	Machine string             `json:"machine"`
	Reps    int                `json:"reps"`
	Samples map[string]series  `json:"samples"`
	W4      *scratchResult     `json:"w4,omitempty"`
	Extra   map[string]float64 `json:"extra,omitempty"`
	// Link is the shaped link in front of every host (zero: none).
	Link linkem.Shape `json:"link"`
	// W1Hosts and W3Hosts are the workloads' host counts.
	W1Hosts int `json:"w1_hosts,omitempty"`
	W3Hosts int `json:"w3_hosts,omitempty"`
	// W6Hosts are W6's two host counts (a tenth, all).
	W6Hosts [2]int `json:"w6_hosts,omitempty"`
}

func (r *report) add(name string, s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Samples == nil {
		r.Samples = map[string]series{}
	}
	r.Samples[name] = append(r.Samples[name], s)
}

func (r *report) setExtra(k string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Extra == nil {
		r.Extra = map[string]float64{}
	}
	r.Extra[k] = v
}

func (r *report) med(name string, f func(sample) float64) (float64, bool) {
	s, ok := r.Samples[name]
	if !ok || len(s) == 0 {
		return 0, false
	}
	return s.median(f), true
}

// markdown renders the results: one table of medians, one of ratios and goals.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s UTC on %s; %d repetitions, tools interleaved (rotated order).\n\n",
		r.Date.Format("2006-01-02 15:04"), r.Machine, r.Reps)
	if r.W4 == nil && r.w6Only() {
		// W6 alone: only its own table.
		b.WriteString(r.w6Markdown())
		return b.String()
	}

	at := ""
	if !r.Link.IsZero() {
		at = " at " + linkName(r.Link)
		fmt.Fprintf(&b, "Every tool reached the hosts through a link proxy per host (docs/lab.md, shaped links): %s. Rows marked *direct* ran on the same hosts without it.\n\n", r.Link)
	}
	b.WriteString("| workload | tool | median wall | min – max | median CPU (user+sys) | peak RSS | other |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|\n")
	// The hosts of W1 and W3 as run (-hosts, -scale-hosts); reports saved
	// before they were recorded had the defaults.
	w1n, w3n := r.W1Hosts, r.W3Hosts
	if w1n == 0 {
		w1n = 8
	}
	if w3n == 0 {
		w3n = 64
	}
	w1 := fmt.Sprintf("W1 %d hosts × 20 tasks", w1n)
	order := []struct{ key, workload, tool string }{
		{"w1/plan", w1 + at, "plan"},
		{"w1/openssh", w1 + at, "OpenSSH floor (ControlMaster, 1 ssh/step)"},
		{"w1/ansible", w1 + at, fmt.Sprintf("ansible-playbook (forks %d, pipelining, %s)", w1n, ansibleStrategy)},
		{"w1-0/plan", w1 + ", *direct*", "plan"},
		{"w1-0/openssh", w1 + ", *direct*", "OpenSSH floor"},
		{"w2/plan", "W2 256 MiB → 4 hosts" + at, "plan"},
		{"w2/scp", "W2 256 MiB → 4 hosts" + at, "scp ×4 in parallel"},
		{"w2/plan-repush", "W2 re-push, unchanged" + at, "plan"},
		{"w2/sha256sum", "W2 re-push, unchanged" + at, "ssh openssl dgst -sha256 ×4 (the checksum alone)"},
		{"w3/plan", fmt.Sprintf("W3 %d hosts × 20 tasks", w3n) + at, "plan"},
		{"w3/openssh", fmt.Sprintf("W3 %d hosts × 20 tasks", w3n) + at, "OpenSSH floor"},
	}
	for _, o := range order {
		s, ok := r.Samples[o.key]
		if !ok {
			continue
		}
		lo, hi := s.minmax(wallS)
		cpu := fmt.Sprintf("%.2f s", s.median(cpuS))
		rss := "—"
		if strings.HasSuffix(o.key, "/plan") || strings.HasSuffix(o.key, "/plan-repush") {
			rss = fmt.Sprintf("%.1f MiB", s.median(rssMiB))
		}
		if strings.Contains(o.key, "openssh") || strings.Contains(o.key, "scp") || strings.Contains(o.key, "sha256sum") {
			cpu += " ¹"
		}
		other := ""
		if strings.HasPrefix(o.key, "w2/") {
			if o.key == "w2/plan" || o.key == "w2/scp" {
				mbs := float64(4*(256<<20)) / s.median(wallS) / 1e6
				if r.Extra != nil && r.Extra["w2_bytes"] > 0 {
					mbs = r.Extra["w2_bytes"] / s.median(wallS) / 1e6
				}
				other = fmt.Sprintf("%.0f MB/s; ", mbs)
			}
			other += fmt.Sprintf("%s on the wire", humanBytes(s.median(wire)))
		}
		if strings.HasPrefix(o.key, "w1") || strings.HasPrefix(o.key, "w3/") {
			other = fmt.Sprintf("machine busy %.1f of %d CPUs", s.median(busyCPUs), runtime.NumCPU())
			if hosts := r.hostsOf(o.key); s.median(flights) > 0 && hosts > 0 {
				other += fmt.Sprintf("; %.1f client turns, %.1f connections per host", s.median(flights)/float64(hosts), s.median(conns)/float64(hosts))
			}
			if hc := s.median(hostsCPUS); hc > 0 {
				other += fmt.Sprintf("; hosts' CPU %.2f s", hc)
				if hosts := r.hostsOf(o.key); hosts > 0 {
					other += fmt.Sprintf(" (%.1f ms per step)", hc*1000/float64(hosts*20))
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f s | %.2f – %.2f s | %s | %s | %s |\n", o.workload, o.tool, s.median(wallS), lo, hi, cpu, rss, other)
	}
	if r.W4 != nil {
		w := r.W4
		fmt.Fprintf(&b, "| W4 scratch, 3 systemd hosts | plan (default --parallel) | %.1f s | | | | critical path %.1f s |\n", w.Default.Seconds(), w.CriticalPath.Seconds())
		fmt.Fprintf(&b, "| W4 scratch, 3 systemd hosts | plan --parallel 1 | %.1f s | | | | |\n", w.Serial.Seconds())
	}
	b.WriteString("\n¹ the ssh/scp client processes only (the ControlMaster runs in the background and is not counted).\n\n")

	b.WriteString("| goal | measured | target | met |\n|---|---:|---:|---|\n")
	ratio := func(goal, num, den string, f func(sample) float64, target string, ok func(float64) bool) {
		n, ok1 := r.med(num, f)
		d, ok2 := r.med(den, f)
		if !ok1 || !ok2 || d == 0 {
			return
		}
		v := n / d
		met := "—"
		if ok != nil {
			met = yes(ok(v))
		}
		fmt.Fprintf(&b, "| %s | %.3f× | %s | %s |\n", goal, v, target, met)
	}
	ratio("W1 plan / OpenSSH floor (wall)", "w1/plan", "w1/openssh", wallS, "≤ 0.5×", func(v float64) bool { return v <= 0.5 })
	if n, ok := r.med("w1/ansible", wallS); ok {
		if d, ok := r.med("w1/plan", wallS); ok {
			v := n / d
			fmt.Fprintf(&b, "| W1 Ansible / plan (wall): plan is N× faster | %.1f× | ≥ 15× | %s |\n", v, yes(v >= 15))
		}
	}
	if n, ok := r.med("w2/scp", wallS); ok {
		if d, ok := r.med("w2/plan", wallS); ok {
			v := n / d
			fmt.Fprintf(&b, "| W2 plan throughput / scp throughput | %.0f%% | ≥ 90%% | %s |\n", 100*v, yes(v >= 0.9))
		}
	}
	if n, ok := r.med("w2/plan-repush", wallS); ok {
		if d, ok := r.med("w2/sha256sum", wallS); ok {
			by, _ := r.med("w2/plan-repush", wire)
			v := n / d
			fmt.Fprintf(&b, "| W2 re-push / one checksum per host over ssh (wall); bytes sent | %.2f×; %s | ≈ 1×, no file data | %s |\n", v, humanBytes(by), yes(by < 1<<20))
		}
	}
	if !r.Link.IsZero() {
		r.wanGoals(&b)
	}
	ratio("W3 plan 64 hosts / plan 8 hosts (wall)", "w3/plan", "w1/plan", wallS, "≤ 2×", func(v float64) bool { return v <= 2 })
	ratio("W3 OpenSSH floor 64 / 8 hosts (wall, reference)", "w3/openssh", "w1/openssh", wallS, "—", nil)
	if n, ok := r.med("w3/plan", cpuS); ok {
		if d, ok := r.med("w1/plan", cpuS); ok && d > 0 {
			v := n / d
			fmt.Fprintf(&b, "| W3 plan CPU 64 / 8 hosts (8× the nodes); per node | %.2f×; %.2f× | — | — |\n", v, v/8)
		}
	}
	if n, ok := r.med("w3/plan", rssMiB); ok {
		fmt.Fprintf(&b, "| W3 plan peak RSS at 64 hosts | %.1f MiB | report | — |\n", n)
	}
	if r.W4 != nil && r.W4.Serial > 0 {
		v := r.W4.Default.Seconds() / r.W4.Serial.Seconds()
		fmt.Fprintf(&b, "| W4 scratch default / --parallel 1 (wall) | %.2f× | ≤ 0.6× | %s |\n", v, yes(v <= 0.6))
	}
	if r.W4 != nil {
		b.WriteString("\n" + r.W4.markdown())
	}
	b.WriteString(r.w6Markdown())
	return b.String()
}

// w6Only reports whether every sample series is W6's.
func (r *report) w6Only() bool {
	for k := range r.Samples {
		if !strings.HasPrefix(k, "w6/") {
			return false
		}
	}
	return len(r.Samples) > 0
}

// hostsOf is the number of hosts of a workload's key.
func (r *report) hostsOf(key string) int {
	if strings.HasPrefix(key, "w3/") {
		return r.W3Hosts
	}
	if strings.HasPrefix(key, "w1") {
		return r.W1Hosts
	}
	return 0
}

// wanGoals: W1 on a shaped link against its round-trip limit, and the
// round trips per step of each tool.
func (r *report) wanGoals(b *strings.Builder) {
	rtt := r.Link.RTT()
	if rtt <= 0 {
		return
	}
	limit := roundTripLimit(rtt)
	tools := []struct{ key, name string }{
		{"w1/plan", "plan"}, {"w1/openssh", "OpenSSH floor"}, {"w1/ansible", "Ansible"},
	}
	for _, t := range tools {
		w, ok := r.med(t.key, wallS)
		if !ok {
			continue
		}
		target, met := "—", "—"
		if t.key == "w1/plan" {
			target, met = "≤ 1.3×", yes(w/limit.Seconds() <= 1.3)
		}
		fmt.Fprintf(b, "| W1 %s / round-trip limit (%d set-up + %d steps = %d RTT = %.2f s) | %.2f× | %s | %s |\n",
			t.name, setupRTTs, w1StepCount, setupRTTs+w1StepCount, limit.Seconds(), w/limit.Seconds(), target, met)
	}
	for _, t := range tools {
		w, ok := r.med(t.key, wallS)
		if !ok {
			continue
		}
		d, ok := r.med(strings.Replace(t.key, "w1/", "w1-0/", 1), wallS)
		if !ok {
			continue
		}
		added := (w - d) / rtt.Seconds()
		fmt.Fprintf(b, "| W1 %s: round trips waited, from timings ((wall − direct wall) / RTT); per step (/ %d, set-up included) | %.1f; %.2f | %d; %.2f | — |\n",
			t.name, w1StepCount, added, added/w1StepCount, setupRTTs+w1StepCount, float64(setupRTTs+w1StepCount)/w1StepCount)
	}
	for _, t := range tools {
		f, ok := r.med(t.key, flights)
		if !ok || f == 0 || r.W1Hosts == 0 {
			continue
		}
		c, _ := r.med(t.key, conns)
		fmt.Fprintf(b, "| W1 %s: client turns per step, from the proxies (per host / %d steps, set-up included); connections per host | %.2f; %.1f | — | — |\n",
			t.name, w1StepCount, f/float64(r.W1Hosts)/w1StepCount, c/float64(r.W1Hosts))
	}
}

// linkName is a short name of the link for table rows: "30 ms RTT".
func linkName(s linkem.Shape) string {
	var parts []string
	if s.RTT() > 0 {
		parts = append(parts, fmt.Sprintf("%d ms RTT", s.RTT().Milliseconds()))
	}
	if s.Bandwidth > 0 {
		parts = append(parts, linkem.FormatBandwidth(s.Bandwidth))
	}
	return strings.Join(parts, ", ")
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func humanBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

// write prints the table and writes it with the raw samples to out.
func (r *report) write(out string) error {
	if len(r.Samples) == 0 && r.W4 == nil {
		return nil
	}
	md := r.markdown()
	fmt.Println()
	fmt.Print(md)
	stamp := r.Date.Format("20060102-150405")
	if err := os.WriteFile(filepath.Join(out, "results-"+stamp+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "samples-"+stamp+".json"), js, 0o644)
}
