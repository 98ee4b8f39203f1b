package hosts

import (
	"bytes"
	"strings"
	"sync"
)

// stderrTailBytes bounds how much of a command's stderr is kept for
// ExitError.StderrTail: enough for the last few lines of a failure.
const stderrTailBytes = 4096

// tailBuffer keeps the last stderrTailBytes written to it. It is what fills
// ExitError.StderrTail, so the tail never holds a whole log in memory.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 2*stderrTailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// Tail returns the last lines (at most stderrTailBytes) with every secret
// replaced by Mask.
func (t *tailBuffer) Tail(secrets ...string) string {
	t.mu.Lock()
	b := bytes.Clone(t.buf)
	t.mu.Unlock()
	s := redact(string(b), secrets...)
	if len(s) > stderrTailBytes {
		s = s[len(s)-stderrTailBytes:]
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
	}
	return strings.TrimRight(s, "\n")
}

// Mask is what every secret is replaced by, in stderr tails here and in
// everything the executor prints (executor.Mask is this one): one mark.
const Mask = "[REDACTED]"

// redact replaces every non-empty secret in s.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}
