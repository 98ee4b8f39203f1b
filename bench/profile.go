package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/plan-dev/plan/integration/lab"
)

// profiles runs plan on W1 (8 hosts) and W3 (64 hosts) with the hidden
// PLAN_CPUPROFILE / PLAN_MEMPROFILE hooks of cmd/plan, several times each,
// and writes `go tool pprof -top` of the merged profiles to OUT/profiles/.
func (b *bench) profiles(ctx context.Context) error {
	dir := filepath.Join(b.cfg.out, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sets := []struct {
		name  string
		hosts []*lab.Host
		runs  int
	}{{"w1", b.lab.Hosts[:b.cfg.small], 5}}
	if b.cfg.only["w3"] {
		sets = append(sets, struct {
			name  string
			hosts []*lab.Host
			runs  int
		}{"w3", b.lab.Hosts[:b.cfg.large], 3})
	}
	for _, set := range sets {
		var cpus, mems []string
		for i := 0; i < set.runs; i++ {
			if err := b.onHosts(ctx, set.hosts, "rm -rf /tmp/bench"); err != nil {
				return err
			}
			cpu := filepath.Join(dir, fmt.Sprintf("%s-cpu-%d.prof", set.name, i))
			mem := filepath.Join(dir, fmt.Sprintf("%s-heap-%d.prof", set.name, i))
			s, err := b.planW1(set.hosts, "PLAN_CPUPROFILE="+cpu, "PLAN_MEMPROFILE="+mem)(ctx)
			if err != nil {
				return err
			}
			logf("profile %s run %d: %.2fs, cpu %.2fs", set.name, i+1, s.Wall.Seconds(), s.CPU.Seconds())
			cpus, mems = append(cpus, cpu), append(mems, mem)
		}
		outs := []struct {
			file string
			args []string
		}{
			{set.name + "-cpu-top.txt", append([]string{"-top", "-nodecount=40"}, cpus...)},
			{set.name + "-cpu-cum.txt", append([]string{"-top", "-cum", "-nodecount=60"}, cpus...)},
			{set.name + "-alloc-top.txt", append([]string{"-top", "-sample_index=alloc_space", "-nodecount=30"}, mems...)},
		}
		for _, o := range outs {
			// pprof wants the binary before the profiles.
			args := append([]string{"tool", "pprof"}, reorder(o.args, b.cfg.planBin)...)
			cmd := exec.CommandContext(ctx, "go", args...)
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("go tool pprof: %v", err)
			}
			if err := os.WriteFile(filepath.Join(dir, o.file), out, 0o644); err != nil {
				return err
			}
		}
		logf("profiles of %s: %s", set.name, filepath.Join(dir, set.name+"-cpu-top.txt"))
	}
	return nil
}

// reorder puts the flags first, then the binary, then the profiles.
func reorder(args []string, bin string) []string {
	var flags, files []string
	for _, a := range args {
		if len(a) > 0 && a[0] == '-' {
			flags = append(flags, a)
		} else {
			files = append(files, a)
		}
	}
	return append(append(flags, bin), files...)
}
