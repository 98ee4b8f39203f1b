package hosts

import (
	"bytes"
	"io"
	"strconv"
	"sync"
)

// stderrFilter removes sudo's prompt and the process-group marker line
// from stderr, notices sudo's prompt (only then is the password sent: see
// sendPassword) and a rejected sudo password (the prompt shown a second
// time).
type stderrFilter struct {
	marker, prompt string
	out            io.Writer

	mu          sync.Mutex
	buf         []byte // before the marker
	started     chan struct{}
	prompted    chan struct{} // closed when sudo's prompt first appears
	badPassword chan struct{}
	asked       bool
	bad         bool
	pg          int
	prompts     int
}

func newStderrFilter(marker, prompt string, out io.Writer) *stderrFilter {
	return &stderrFilter{marker: marker, prompt: prompt, out: out,
		started: make(chan struct{}), prompted: make(chan struct{}), badPassword: make(chan struct{})}
}

func (f *stderrFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pg != 0 {
		return f.passThrough(p, len(p))
	}
	f.buf = append(f.buf, p...)
	if f.prompt != "" {
		n := bytes.Count(f.buf, []byte(f.prompt))
		if n > 0 && !f.asked {
			f.asked = true
			close(f.prompted)
		}
		if n > 1 && !f.bad {
			f.bad = true
			close(f.badPassword)
		}
	}
	i := bytes.Index(f.buf, []byte(f.marker+" "))
	if i < 0 {
		return len(p), nil
	}
	end := bytes.IndexByte(f.buf[i:], '\n')
	if end < 0 {
		return len(p), nil
	}
	pg, _ := strconv.Atoi(string(f.buf[i+len(f.marker)+1 : i+end]))
	if pg == 0 {
		pg = -1
	}
	f.pg = pg
	close(f.started)
	// What came before the marker is sudo's chatter (prompt, lecture) or
	// login-shell noise, never the command's: drop it.
	rest := f.buf[i+end+1:]
	f.buf = nil
	return f.passThrough(rest, len(p))
}

func (f *stderrFilter) passThrough(p []byte, n int) (int, error) {
	if len(p) > 0 {
		if _, err := f.out.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// flush writes what came before a marker that never came (sudo failed):
// prompts removed.
func (f *stderrFilter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pg != 0 || len(f.buf) == 0 {
		return
	}
	b := f.buf
	if f.prompt != "" {
		b = bytes.ReplaceAll(b, []byte(f.prompt), nil)
	}
	f.out.Write(b)
	f.buf = nil
}

func (f *stderrFilter) pgid() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pg
}

func (f *stderrFilter) hasStarted() bool { return f.pgid() != 0 }

func (f *stderrFilter) rejected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bad {
		return true
	}
	// sudo gave up without a second prompt (stdin closed): it says so.
	return f.pg == 0 && f.prompt != "" && bytes.Contains(f.buf, []byte("incorrect password"))
}
