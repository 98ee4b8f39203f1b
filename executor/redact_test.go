package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/hosts/hoststest"
)

func TestRedactorString(t *testing.T) {
	r := NewRedactor("hunter2", "", "  ", "hunter2-long")
	got := r.String("a hunter2 b hunter2-long c")
	if got != "a "+Mask+" b "+Mask+" c" {
		t.Errorf("got %q", got)
	}
	r.Add("-----BEGIN KEY-----\nMIIBkTCB+wIJAKHHIG0x\n-----END KEY-----")
	if got := r.String("body:   MIIBkTCB+wIJAKHHIG0x\r\n"); strings.Contains(got, "MIIBkTCB") {
		t.Errorf("a line of a multi-line secret leaked: %q", got)
	}
}

// A multi-line secret such as a kubeconfig with a token hides its token
// wherever it appears, but not the YAML keys and words around it.
func TestRedactorMultiLineKeepsOrdinaryWords(t *testing.T) {
	kubeconfig := "apiVersion: v1\nclusters:\n- cluster:\n    insecure-skip-tls-verify: true\n" +
		"    server: https://kubernetes.default.svc:6443\nusers:\n- user:\n    token: abcdef.0123456789abcdef\n"
	r := NewRedactor(kubeconfig)
	for _, ordinary := range []string{"checks/cluster changed", "insecure-skip-tls-verify", "clusters:", "apiVersion: v1"} {
		if got := r.String(ordinary); got != ordinary {
			t.Errorf("ordinary text redacted: %q -> %q", ordinary, got)
		}
	}
	if got := r.String("Authorization: Bearer abcdef.0123456789abcdef"); strings.Contains(got, "0123456789") {
		t.Errorf("the token inside the secret leaked: %q", got)
	}
	if got := r.String(kubeconfig); got != Mask {
		t.Errorf("the whole secret is not one mask: %q", got)
	}
}

// Every way of cutting the stream into writes must give the same redacted
// text.
func TestRedactWriterSecretsSplitAcrossWrites(t *testing.T) {
	r := NewRedactor("topsecret", "tops")
	in := "xx topsecret yy tops zz topsecre t toptopsecret"
	want := r.String(in)
	for size := 1; size <= len(in); size++ {
		var out bytes.Buffer
		w := r.Writer(&out)
		for i := 0; i < len(in); i += size {
			end := min(i+size, len(in))
			if _, err := w.Write([]byte(in[i:end])); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		if out.String() != want {
			t.Errorf("chunks of %d: %q, want %q", size, out.String(), want)
		}
		if strings.Contains(out.String(), "topsecret") {
			t.Errorf("chunks of %d leaked the secret", size)
		}
	}
}

// Secrets of the plan, of the evaluator, and sensitive outputs made from a
// step's stdout appear nowhere: not in events, logs, the summary or state.
func TestRedactionEverywhere(t *testing.T) {
	dir := t.TempDir()
	l := newLab("h1")
	l.handle(func(ctx context.Context, r *hoststest.FakeRun) error {
		switch r.Cmd {
		case "make":
			r.Stdout.Write([]byte("generated-abc123\n"))
		case "fail":
			r.Stdout.Write([]byte("pw is plan-pass and eval-pass and sudo-pass\n"))
			r.Stderr.Write([]byte("bad plan-pass\n"))
			return hoststest.FakeExit(1, "")
		}
		return nil
	})
	g := newGraph(
		&tTask{name: "gen", hosts: []string{"h1"}, steps: []tStep{runStep("make", "make")},
			outputs: func(e *tEval) map[string]cty.Value {
				return map[string]cty.Value{"v": cty.StringVal(strings.TrimSpace(e.results[0].Stdout)).Mark(dsl.Sensitive)}
			}},
		&tTask{name: "bad", hosts: []string{"h1"}, deps: []string{"gen"}, secrets: []string{"eval-pass"},
			steps: []tStep{{name: "f", kind: dsl.StepRun, build: func(e *tEval) *dsl.Step {
				return &dsl.Step{Kind: dsl.StepRun, Name: "f", Command: "fail", Env: map[string]string{"TOKEN": "eval-pass"}}
			}}}},
	)
	g.secrets = []string{"plan-pass"}
	state, _ := OpenState(filepath.Join(dir, "state.json"))
	logDir := filepath.Join(dir, "logs")
	sum, rec := runGraph(t, context.Background(), g, l, Options{State: state, LogDir: logDir, Secrets: []string{"sudo-pass"}})
	if sum.Failed != 1 {
		t.Fatalf("want the bad node to fail: %+v", sum)
	}
	var everything bytes.Buffer
	for _, ev := range rec.all() {
		b, _ := json.Marshal(ev)
		everything.Write(b)
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasSuffix(p, ".key") {
			b, _ := os.ReadFile(p)
			everything.Write(b)
		}
		return nil
	})
	for _, secret := range []string{"plan-pass", "eval-pass", "sudo-pass", "generated-abc123"} {
		if strings.Contains(everything.String(), secret) {
			t.Errorf("%q leaked", secret)
		}
	}
	if !strings.Contains(everything.String(), "pw is "+Mask) {
		t.Error("output lost its non-secret text")
	}
	f := sum.Failures[0]
	// Redacted before quoting, the mask is quoted with the rest.
	if !strings.Contains(f.Reproduce, "TOKEN='\\''"+Mask) || len(f.Stderr) != 1 || f.Stderr[0] != "bad "+Mask {
		t.Errorf("failure not redacted as expected: %+v", f)
	}
}

// Secrets added while a writer reads the list must not race with it: Add
// used to sort the very slice list() had handed out (go test -race).
func TestRedactorAddWhileWriting(t *testing.T) {
	r := NewRedactor("first-secret")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Each new secret is longer than the ones before, so Add
			// reorders the list the writer reads.
			r.Add(fmt.Sprintf("%s-added-%d", strings.Repeat("s", i%40), i))
		}
	}()
	var out bytes.Buffer
	w := r.Writer(&out)
	for i := 0; i < 300; i++ {
		if _, err := w.Write([]byte("a line with first-secret in it\n")); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "first-secret") {
		t.Fatal("a secret leaked while others were being added")
	}
}
