package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts/hoststest"
)

// manyNodesGraph is the shape of the profiled workload: hosts hosts, each
// running tasks tasks chained one after the other, one run step each that
// prints a line.
func manyNodesGraph(nHosts, nTasks int) (*tGraph, []string) {
	names := make([]string, nHosts)
	for i := range names {
		names[i] = fmt.Sprintf("h%02d", i)
	}
	tasks := make([]*tTask, nTasks)
	for i := range tasks {
		t := &tTask{name: fmt.Sprintf("t%02d", i), hosts: names,
			steps: []tStep{runStep("s", "echo step")}}
		if i > 0 {
			t.deps = []string{tasks[i-1].name}
		}
		tasks[i] = t
	}
	return newGraph(tasks...), names
}

// BenchmarkRunManyNodes runs 64 hosts x 20 chained tasks over the fake
// transport, one log file per node in a fresh directory per run (under
// b.TempDir(): set TMPDIR to measure another filesystem). "instant" steps
// return at once, so the run is all executor and log-file work; "remote-2ms"
// steps take 2 ms, as a command on a near host would, so there is waiting
// for work off the nodes' path to overlap with.
func BenchmarkRunManyNodes(b *testing.B) {
	for _, remote := range []time.Duration{0, 2 * time.Millisecond} {
		name := "instant"
		if remote > 0 {
			name = "remote-" + remote.String()
		}
		b.Run(name, func(b *testing.B) { benchManyNodes(b, 64, 20, remote) })
	}
}

func benchManyNodes(b *testing.B, nHosts, nTasks int, remote time.Duration) {
	g, names := manyNodesGraph(nHosts, nTasks)
	base := b.TempDir()
	line := []byte("step output line\n")
	handler := func(ctx context.Context, r *hoststest.FakeRun) error {
		if remote > 0 {
			time.Sleep(remote)
		}
		_, err := r.Stdout.Write(line)
		return err
	}
	// The sink measures each node's path: from node_started to its
	// node_finished, which the scheduler emits when the node's goroutine
	// hands its result over (after its log file, when that was inline).
	started := make(map[string]time.Time, nHosts*nTasks)
	var path time.Duration
	var nodes int
	sink := func(ev Event) {
		switch ev.Kind {
		case EventNodeStarted:
			started[ev.Node] = ev.Time
		case EventNodeFinished:
			path += ev.Time.Sub(started[ev.Node])
			nodes++
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l := newLab(names...)
		l.handle(handler)
		clear(started)
		sum, err := Run(context.Background(), g, l.connect, Options{LogDir: filepath.Join(base, fmt.Sprint(i)), Sink: sink})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Changed != nHosts*nTasks {
			b.Fatalf("%d changed, want %d: %+v", sum.Changed, nHosts*nTasks, sum.Failures)
		}
	}
	if nodes > 0 {
		b.ReportMetric(float64(path.Microseconds())/float64(nodes), "µs/node-path")
	}
}
