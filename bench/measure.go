package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plan-dev/plan/integration/lab"
)

// sample is one measured run of one tool.
type sample struct {
	Wall   time.Duration `json:"wall_ns"`
	CPU    time.Duration `json:"cpu_ns"`     // user+sys of the process and the children it reaped
	MaxRSS int64         `json:"max_rss_kb"` // peak resident set of the process (KiB)
	Bytes  int64         `json:"wire_bytes"` // bytes sent to the hosts (their veths), when measured
	// Busy is the CPU time the whole machine spent during the run
	// (/proc/stat: everything but idle and iowait), the lab's hosts
	// included: with hosts on the same cores, it shows when a run is
	// bound by CPU rather than by waiting.
	Busy time.Duration `json:"machine_busy_ns"`
	// HostsCPU is the CPU time the lab's hosts spent during the run (their
	// cgroups' cpuacct.usage, summed): sshd, the shells and the commands.
	HostsCPU time.Duration `json:"hosts_cpu_ns,omitempty"`
	// Flights and Conns are what the hosts' link proxies counted during
	// the run (shaped links only): the client's turns (each one waits for
	// a round trip) and TCP connections, summed over the hosts.
	Flights int64 `json:"flights,omitempty"`
	Conns   int64 `json:"conns,omitempty"`
	// FDs and Threads are the peak open file descriptors and threads of
	// the process (W6, sampled every 20 ms).
	FDs     int `json:"fds,omitempty"`
	Threads int `json:"threads,omitempty"`
}

// machineBusy reads the machine's busy CPU time so far from /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is in user already
			continue
		}
		var n int64
		fmt.Sscan(v, &n)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// labCPU, once the lab is up, reads the CPU time its hosts have used so
// far (see hostsCPU); nil when it cannot be read.
var labCPU func() time.Duration

// hostsCPU is labCPU's reader for the lab's hosts: for each host, the CPU
// time (user+sys) of its process tree, from the host's own process down
// (sshd, its sessions, the shells and the commands), the descendants that
// have ended and been waited for included (cutime, cstime). A process that
// ended but is not waited for yet is not counted: read it a moment after a
// run.
func hostsCPU(l *lab.Lab) func() time.Duration {
	return func() time.Duration {
		var ticks int64
		for _, h := range l.Hosts {
			ticks += treeTicks(h.Proc.PID, 0)
		}
		return time.Duration(ticks) * time.Second / 100 // USER_HZ
	}
}

// treeTicks sums utime+stime+cutime+cstime of pid and its live
// descendants (/proc/PID/task/*/children).
func treeTicks(pid, depth int) int64 {
	if pid <= 0 || depth > 64 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in its parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	var sum int64
	for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14–17)
		if k < len(f) {
			var n int64
			fmt.Sscan(f[k], &n)
			sum += n
		}
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		c, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(c)) {
			var child int
			fmt.Sscan(f, &child)
			sum += treeTicks(child, depth+1)
		}
	}
	return sum
}

// bench holds what every workload shares: the lab and the report.
type bench struct {
	cfg *config
	lab *lab.Lab
	rep *report
	// sshConfig is the ssh_config every tool reads: the lab's (through the
	// link proxies when links are shaped) or the direct one of the
	// zero-latency baseline (wan.go).
	sshConfig string
}

// cmdResult runs cmd to the end and reports its wall time, CPU time and
// peak RSS; stdout and stderr are kept for error messages.
func runCmd(ctx context.Context, cmd *exec.Cmd) (sample, []byte, error) {
	return runCmdWatch(ctx, cmd, nil)
}

// runCmdWatch is runCmd that calls started with the process's PID once it
// runs (and before it is waited for).
func runCmdWatch(ctx context.Context, cmd *exec.Cmd, started func(pid int)) (sample, []byte, error) {
	var out bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	var hosts0 time.Duration
	if labCPU != nil {
		hosts0 = labCPU()
	}
	start, busy := time.Now(), machineBusy()
	err := cmd.Start()
	if err == nil {
		if started != nil {
			started(cmd.Process.Pid)
		}
		err = cmd.Wait()
	}
	s := sample{Wall: time.Since(start), Busy: machineBusy() - busy}
	if labCPU != nil {
		time.Sleep(100 * time.Millisecond) // for the hosts' ended sessions to be waited for
		s.HostsCPU = labCPU() - hosts0
	}
	if ps := cmd.ProcessState; ps != nil {
		s.CPU = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			s.MaxRSS = ru.Maxrss
		}
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return s, out.Bytes(), err
}

// tail is the last lines of a command's output, for errors.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// onHosts runs a shell script inside each host directly (not over SSH), in
// parallel: preparing and checking hosts is not part of any measurement.
func (b *bench) onHosts(ctx context.Context, hosts []*lab.Host, script string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	sem := make(chan struct{}, 16)
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if out, err := b.lab.Exec(ctx, h, script); err != nil {
				errs[i] = fmt.Errorf("%s: %v: %s", h.Name, err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// wireBytes is the sum of bytes the machine has sent to the hosts.
func wireBytes(hosts []*lab.Host) int64 {
	var n int64
	for _, h := range hosts {
		b, err := os.ReadFile(filepath.Join("/sys/class/net", h.Veth, "statistics/tx_bytes"))
		if err != nil {
			continue
		}
		var v int64
		fmt.Sscan(strings.TrimSpace(string(b)), &v)
		n += v
	}
	return n
}

func aliases(hosts []*lab.Host) string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Alias
	}
	return strings.Join(names, ",")
}

// sshBase is what every ssh/scp invocation of a baseline gets: the lab's
// ssh_config (the same file plan reads with -F) and a ControlMaster socket.
func (b *bench) sshBase(controlDir string) []string {
	args := []string{"-F", b.sshConfig}
	if controlDir != "" {
		args = append(args, "-o", "ControlMaster=auto", "-o", "ControlPath="+filepath.Join(controlDir, "%C"), "-o", "ControlPersist=yes")
	}
	return args
}

// closeMasters ends every ControlMaster whose socket is in dir.
func closeMasters(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		exec.Command("ssh", "-o", "ControlPath="+filepath.Join(dir, e.Name()), "-O", "exit", "x").Run()
	}
	os.RemoveAll(dir)
}

// stats of a series of samples.
type series []sample

func (s series) median(f func(sample) float64) float64 {
	if len(s) == 0 {
		return 0
	}
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (s series) minmax(f func(sample) float64) (float64, float64) {
	if len(s) == 0 {
		return 0, 0
	}
	lo, hi := f(s[0]), f(s[0])
	for _, x := range s[1:] {
		lo, hi = min(lo, f(x)), max(hi, f(x))
	}
	return lo, hi
}

func wallS(s sample) float64 { return s.Wall.Seconds() }
func cpuS(s sample) float64  { return s.CPU.Seconds() }

// busyCPUs is how many CPUs the machine kept busy on average during a run.
func busyCPUs(s sample) float64 {
	if s.Wall <= 0 {
		return 0
	}
	return s.Busy.Seconds() / s.Wall.Seconds()
}
func rssMiB(s sample) float64    { return float64(s.MaxRSS) / 1024 }
func wire(s sample) float64      { return float64(s.Bytes) }
func flights(s sample) float64   { return float64(s.Flights) }
func hostsCPUS(s sample) float64 { return s.HostsCPU.Seconds() }
func conns(s sample) float64     { return float64(s.Conns) }

// rotate returns the tools in the order of repetition r: every tool goes
// first, second, ... in turn, so slow drifts of the machine's load fall on
// every tool alike.
func rotate[T any](xs []T, r int) []T {
	out := make([]T, 0, len(xs))
	for i := range xs {
		out = append(out, xs[(i+r)%len(xs)])
	}
	return out
}
