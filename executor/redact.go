package executor

import (
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/plan-dev/plan/hosts"
)

// Mask replaces every secret in redacted text.
const Mask = hosts.Mask

// Redactor replaces known secrets in text. Secrets can be added while a run
// goes on (a node learns sensitive values as it evaluates); it is safe for
// concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	set      map[string]bool
	secrets  []string // longest first, so a secret that contains another wins
	replacer *strings.Replacer
}

// NewRedactor returns a Redactor that knows secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{set: map[string]bool{}}
	r.Add(secrets...)
	return r
}

// Add makes the redactor replace secrets from now on. Empty and blank
// strings are ignored. A multi-line secret (a PEM key, a kubeconfig with a
// token) is also redacted piece by piece — each token of it that looks like
// key material — so a copy with other line endings or indentation still hides
// its body, while the ordinary words and YAML keys around it (`cluster:`,
// `insecure-skip-tls-verify`) stay readable everywhere else.
func (r *Redactor) Add(secrets ...string) {
	var add []string
	for _, s := range secrets {
		add = append(add, s)
		// The forms a secret takes once quoted for a shell (one and two
		// levels deep, as in `sudo sh -c '...'`) or escaped for JSON:
		// whatever quotes it before redaction, it stays hidden.
		if strings.Contains(s, "'") {
			q1 := strings.ReplaceAll(s, "'", `'\''`)
			add = append(add, q1, strings.ReplaceAll(q1, "'", `'\''`))
		}
		if b, err := json.Marshal(s); err == nil && string(b[1:len(b)-1]) != s {
			add = append(add, string(b[1:len(b)-1]))
		}
		if strings.Contains(s, "\n") {
			for _, field := range strings.Fields(s) {
				if looksLikeKeyMaterial(field) {
					add = append(add, field)
				}
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// list() hands r.secrets to writers outside the lock, so a grown list
	// is a new slice: the one they hold is never sorted or appended to.
	var grown []string
	for _, s := range add {
		if strings.TrimSpace(s) == "" || r.set[s] {
			continue
		}
		if grown == nil {
			grown = append(make([]string, 0, len(r.secrets)+len(add)), r.secrets...)
		}
		r.set[s] = true
		grown = append(grown, s)
	}
	if grown == nil {
		return
	}
	sort.SliceStable(grown, func(i, j int) bool { return len(grown[i]) > len(grown[j]) })
	pairs := make([]string, 0, 2*len(grown))
	for _, s := range grown {
		pairs = append(pairs, s, Mask)
	}
	r.secrets = grown
	r.replacer = strings.NewReplacer(pairs...)
}

// String returns s with every known secret replaced by Mask.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Strings redacts each element of ss in place and returns it.
func (r *Redactor) Strings(ss []string) []string {
	for i := range ss {
		ss[i] = r.String(ss[i])
	}
	return ss
}

// list returns the current secrets (longest first). The slice is never
// changed after it is returned (Add makes a new one), so callers read it
// without the lock.
func (r *Redactor) list() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.secrets
}

// Writer returns an io.Writer that redacts what passes through it into w.
// A secret split across several Write calls is still caught: the writer
// holds back the tail of the data that could be the beginning of a secret
// until the next Write (or Flush/Close) settles it.
func (r *Redactor) Writer(w io.Writer) *RedactWriter {
	return &RedactWriter{r: r, w: w}
}

// RedactWriter is the io.Writer made by Redactor.Writer. It is not safe for
// concurrent use by itself; wrap the callers in a lock if needed.
type RedactWriter struct {
	r       *Redactor
	w       io.Writer
	pending []byte
}

// Write redacts p and writes what is settled. It reports len(p) when the
// underlying writer accepted everything it was given.
func (rw *RedactWriter) Write(p []byte) (int, error) {
	rw.pending = append(rw.pending, p...)
	cut := settled(rw.pending, rw.r.list())
	if cut == 0 {
		return len(p), nil
	}
	out := rw.r.String(string(rw.pending[:cut]))
	rw.pending = append(rw.pending[:0], rw.pending[cut:]...)
	if _, err := io.WriteString(rw.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes whatever is held back, redacted. Call it at the end of a
// stream, or at a boundary where no secret can span (a whole frame).
func (rw *RedactWriter) Flush() error {
	if len(rw.pending) == 0 {
		return nil
	}
	out := rw.r.String(string(rw.pending))
	rw.pending = rw.pending[:0]
	_, err := io.WriteString(rw.w, out)
	return err
}

// Close flushes; it does not close the underlying writer.
func (rw *RedactWriter) Close() error { return rw.Flush() }

// settled returns how many leading bytes of buf can be redacted and written
// now: everything before the longest tail that may still grow into a secret,
// moved back further when a complete secret straddles that point.
func settled(buf []byte, secrets []string) int {
	n := len(buf)
	cut := n
	for _, s := range secrets {
		// Longest proper prefix of s that is a suffix of buf.
		max := len(s) - 1
		if max > n {
			max = n
		}
		for k := max; k > 0; k-- {
			if n-k < cut && buf[n-k] == s[0] && string(buf[n-k:]) == s[:k] {
				cut = n - k
				break
			}
		}
	}
	for moved := true; moved; {
		moved = false
		for _, s := range secrets {
			// A complete occurrence that starts before cut and ends after it.
			from := cut - len(s) + 1
			if from < 0 {
				from = 0
			}
			if i := strings.Index(string(buf[from:]), s); i >= 0 && from+i < cut && from+i+len(s) > cut {
				cut = from + i
				moved = true
			}
		}
	}
	return cut
}

// looksLikeKeyMaterial reports whether a token of a multi-line secret is
// worth redacting on its own: at least 16 characters of the base64/hex/token
// alphabet, with a digit or a base64 symbol in it. Words, YAML keys and
// dotted or slashed names have none, so they are left alone.
func looksLikeKeyMaterial(tok string) bool {
	if len(tok) < 16 {
		return false
	}
	special := false
	for _, c := range tok {
		switch {
		case c >= '0' && c <= '9', c == '+', c == '=':
			special = true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '/', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return special
}
