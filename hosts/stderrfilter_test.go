package hosts

import (
	"bytes"
	"testing"
)

func newFilter(prompt string) (*stderrFilter, *bytes.Buffer) {
	var out bytes.Buffer
	return newStderrFilter("MARK", prompt, &out), &out
}

// Byte-by-byte writes (the worst split the SSH stream can make) must give
// the same result as one write.
func TestStderrFilterSplitWrites(t *testing.T) {
	in := "[P]lecture\nMARK 4242\nreal stderr\nmore"
	for _, split := range []bool{false, true} {
		f, out := newFilter("[P]")
		if split {
			for i := range len(in) {
				f.Write([]byte{in[i]})
			}
		} else {
			f.Write([]byte(in))
		}
		if f.pgid() != 4242 || !f.hasStarted() || f.rejected() {
			t.Fatalf("split=%v: pgid %d rejected %v", split, f.pgid(), f.rejected())
		}
		if out.String() != "real stderr\nmore" {
			t.Fatalf("split=%v: out %q", split, out.String())
		}
	}
}

func TestStderrFilterRejectedPassword(t *testing.T) {
	f, out := newFilter("[P]")
	f.Write([]byte("[P]Sorry, try again.\n[P]"))
	select {
	case <-f.badPassword:
	default:
		t.Fatal("a second prompt must signal a bad password")
	}
	f.Write([]byte("sudo: no password was provided\n"))
	f.flush()
	if !f.rejected() || f.hasStarted() {
		t.Fatal("want rejected, not started")
	}
	if bytes.Contains(out.Bytes(), []byte("[P]")) || !bytes.Contains(out.Bytes(), []byte("Sorry, try again.")) {
		t.Fatalf("flushed %q: prompts must be removed, sudo's words kept", out.String())
	}
}

func TestStderrFilterNoPromptSudoFailure(t *testing.T) {
	f, out := newFilter("")
	f.Write([]byte("sudo: a password is required\n"))
	f.flush()
	if f.hasStarted() || f.rejected() || out.String() != "sudo: a password is required\n" {
		t.Fatalf("started %v rejected %v out %q", f.hasStarted(), f.rejected(), out.String())
	}
}
