package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/executor"
)

func sampleSummary() *executor.Summary {
	code := 3
	return &executor.Summary{
		Duration: 3 * time.Second, LogDir: ".plan/runs/x", StatePath: ".plan/state.json",
		Nodes: 4, OK: 1, Changed: 1, UpToDate: 1, Failed: 1,
		Hosts: []executor.HostSummary{{Host: "cp1", OK: 1, Changed: 1, Failed: 1, Duration: time.Second}, {Host: "w1", UpToDate: 1}},
		Failures: []executor.Failure{{Node: "ca[cp1]", Host: "cp1", Task: "ca", Step: "key", ExitCode: &code,
			Error: "exit status 3", Stderr: []string{"openssl: no"}, LogFile: ".plan/runs/x/cp1/ca.log",
			Reproduce: "ssh vagrant@10.0.0.1 'openssl ...'"}},
		Stopped: []executor.Skip{{Node: "after[cp1]", Reason: "dependency ca[cp1] failed"}},
	}
}

func TestWriteSummary(t *testing.T) {
	var b bytes.Buffer
	WriteSummary(&b, sampleSummary())
	out := b.String()
	for _, want := range []string{
		"4 nodes", "1 failed", "cp1", "w1", "1 nodes up to date",
		"FAILED ca/key on cp1 (exit code 3)", "| openssl: no", "log:       .plan/runs/x/cp1/ca.log",
		"reproduce: ssh vagrant@10.0.0.1", "after[cp1]: dependency ca[cp1] failed", "Logs: .plan/runs/x",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteSummaryNamesLogsNotWritten(t *testing.T) {
	s := sampleSummary()
	s.LogErrors = []string{"ca[cp1]: open .plan/runs/x/cp1/ca.log: no space left on device"}
	var b bytes.Buffer
	WriteSummary(&b, s)
	if want := "Log files not written (1):\n  ca[cp1]: open .plan/runs/x/cp1/ca.log: no space left on device\n"; !strings.Contains(b.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	WriteSummary(&b, sampleSummary())
	if strings.Contains(b.String(), "not written") {
		t.Errorf("summary without log errors mentions them:\n%s", b.String())
	}
}

func events() []executor.Event {
	now := time.Now()
	return []executor.Event{
		{Time: now, Kind: executor.EventRunStarted, Nodes: 1, Hosts: []string{"cp1"}, HostNodes: map[string]int{"cp1": 1}, LogDir: "L"},
		{Time: now, Kind: executor.EventNodeStarted, Node: "ca[cp1]", Task: "ca", Host: "cp1"},
		{Time: now, Kind: executor.EventStepStarted, Node: "ca[cp1]", Task: "ca", Host: "cp1", Step: "crt", Attempt: 1},
		{Time: now, Kind: executor.EventPushProgress, Node: "ca[cp1]", Task: "ca", Host: "cp1", Step: "crt", Sent: 50, Total: 100},
		{Time: now, Kind: executor.EventStepFinished, Node: "ca[cp1]", Task: "ca", Host: "cp1", Step: "crt", Status: executor.StatusChanged},
		{Time: now, Kind: executor.EventNodeFinished, Node: "ca[cp1]", Task: "ca", Host: "cp1", Status: executor.StatusChanged, Duration: time.Second},
		{Time: now, Kind: executor.EventRunFinished, Summary: sampleSummary()},
	}
}

func TestJSONOneEventPerLine(t *testing.T) {
	var b bytes.Buffer
	j := NewJSON(&b)
	for _, ev := range events() {
		j.Event(ev)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(events()) {
		t.Fatalf("%d lines for %d events", len(lines), len(events()))
	}
	var last struct {
		Event   string            `json:"event"`
		Summary *executor.Summary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Event != "run_finished" || last.Summary == nil || last.Summary.Failed != 1 {
		t.Errorf("last line %s", lines[len(lines)-1])
	}
}

func TestPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := NewPlain(&b, false)
	for _, ev := range events() {
		p.Event(ev)
	}
	out := b.String()
	for _, want := range []string{"cp1 ca/crt: changed\n", "cp1 ca: changed in 1s\n", "Summary"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
}

func TestTTYLiveBlockThenSummary(t *testing.T) {
	var b bytes.Buffer
	tty := NewTTY(&b, func() int { return 60 })
	evs := events()
	for _, ev := range evs[:4] {
		tty.Event(ev)
	}
	tty.mu.Lock()
	tty.redraw(nil) // what the ticker does; events alone may wait for it
	mid := b.String()
	tty.mu.Unlock()
	if !strings.Contains(mid, "▸ ca/crt 50% of 100 B") || !strings.Contains(mid, "0/1 nodes done, 1 running") {
		t.Errorf("live block lacks the node in flight:\n%s", mid)
	}
	for _, ev := range evs[4:] {
		tty.Event(ev)
	}
	tty.Close()
	out := b.String()
	if !strings.Contains(out, "~ cp1 ca: changed") || !strings.Contains(out, "Summary") {
		t.Errorf("output:\n%s", out)
	}
	for _, l := range strings.Split(mid, "\n") {
		if len([]rune(l)) > 60+10 { // escapes aside, live lines fit the width
			t.Errorf("line wider than the terminal: %q", l)
		}
	}
}
