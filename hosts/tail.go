package hosts

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// stderrTailBytes bounds how much of a command's stderr is kept for
// ExitError.StderrTail: enough for the last few lines of a failure.
const stderrTailBytes = 4096

// TailBuffer keeps the last stderrTailBytes written to it. It is what fills
// ExitError.StderrTail, so the tail never holds a whole log in memory.
// The zero value is ready to use and it is safe for concurrent writes.
// It is exported so Transports outside this package (hoststest's Fake)
// cut a tail as this one does.
type TailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// Write keeps p (never failing) for Tail.
func (t *TailBuffer) Write(p []byte) (int, error) {
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
func (t *TailBuffer) Tail(secrets ...string) string {
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

// orDiscard is w, or io.Discard for a caller that did not want the output.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
