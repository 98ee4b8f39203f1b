package main

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/plan-dev/plan/executor/render"
)

// openPTY opens a pseudo-terminal pair: writes to the second end go to a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pseudo-terminal number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// On a terminal plan run shows the live view, unless -v asks for every output line (the
// scratch plan's checks screen and certificate report): then plain lines, as off a terminal.
func TestVerboseIsPlainOnATerminal(t *testing.T) {
	_, tty := openPTY(t)
	if !isTerminal(tty) {
		t.Fatal("the pseudo-terminal is not taken for a terminal")
	}
	r, _ := (&runFlags{output: "text"}).renderer(tty, tty)
	if live, ok := r.(*render.TTY); ok {
		// The live view redraws on a ticker that reads the terminal: stop it before the
		// terminal closes (the race detector saw the tick read a closed descriptor).
		live.Close()
	} else {
		t.Errorf("on a terminal without -v: %T, want the live view", r)
	}
	if r, _ := (&runFlags{output: "text", verbose: true}).renderer(tty, tty); fmt.Sprintf("%T", r) != fmt.Sprintf("%T", &render.Plain{}) {
		t.Errorf("on a terminal with -v: %T, want plain lines", r)
	}
}
