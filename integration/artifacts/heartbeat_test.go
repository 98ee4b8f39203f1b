package artifacts

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDescribeLogTail(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ log, want string }{
		{"go: downloading k8s.io/api v0.36.3\n", "downloading k8s.io/api v0.36.3"},
		{"+ (cd /w/kubernetes && /usr/bin/nice -n 10 go build -trimpath -ldflags '-s -w' -o /s/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver)\n", "go build k8s.io/kubernetes/cmd/kube-apiserver"},
		{"+ (cd /w && go mod tidy)\n", "go mod tidy"},
		{"", "log empty"},
		{strings.Repeat("x", 300) + "\n", strings.Repeat("x", 97) + "..."},
	} {
		p := filepath.Join(dir, "log")
		if err := os.WriteFile(p, []byte(tc.log), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := describeLogTail(p); got != tc.want {
			t.Errorf("describeLogTail(%q) = %q, want %q", tc.log, got, tc.want)
		}
	}
	if got := describeLogTail(filepath.Join(dir, "missing")); got != "no log yet" {
		t.Errorf("missing log: %q", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the heartbeat goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHeartbeat: a build still running says so, with what its log shows, and says nothing
// more once stopped.
func TestHeartbeat(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "k.log")
	if err := os.WriteFile(logFile, []byte("go: downloading k8s.io/api v0.36.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	b := &Builder{Progress: &out, Heartbeat: 20 * time.Millisecond}
	stop := b.heartbeat(Component{Name: "kubernetes", Version: "v1.36.3"}, logFile, time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "still building") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	got := out.String()
	if strings.Count(got, "still building") < 2 || !strings.Contains(got, "kubernetes   v1.36.3   still building") || !strings.Contains(got, "downloading k8s.io/api v0.36.3") {
		t.Fatalf("heartbeat lines:\n%s", got)
	}
	after := out.String()
	time.Sleep(60 * time.Millisecond)
	if out.String() != after {
		t.Errorf("heartbeat went on after stop:\n%s", out.String()[len(after):])
	}

	// Heartbeat < 0: never.
	var quiet syncBuffer
	b = &Builder{Progress: &quiet, Heartbeat: -1}
	stop = b.heartbeat(Component{Name: "x", Version: "v1"}, logFile, time.Now())
	time.Sleep(50 * time.Millisecond)
	stop()
	if quiet.String() != "" {
		t.Errorf("Heartbeat -1 printed %q", quiet.String())
	}
}
