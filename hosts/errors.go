package hosts

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel kinds of failure. Concrete errors wrap them so callers can test
// with errors.Is and still print a precise message.
var (
	ErrAuth           = errors.New("authentication failed")
	ErrHostKeyUnknown = errors.New("host key unknown")
	ErrHostKeyChanged = errors.New("host key changed")
	ErrTimeout        = errors.New("timed out")
	ErrConnLost       = errors.New("connection lost")
	ErrSudoPassword   = errors.New("sudo password rejected")
	ErrTooLarge       = errors.New("too large")
)

// ExitError is returned by Run when the remote command ran and exited with
// a non-zero status or was killed by a signal.
//
// Code is the status as a POSIX shell reports it in $?: the command's exit
// status, or 128+N for a command killed by signal N. Signal names that
// signal (KILL, TERM, ...) whenever Code is 128+N for a signal Linux knows.
// Every path reports the same: a session (whose server may say
// "exit-signal"), a reused shell (which only sees $?) and hoststest.Fake.
// Like a shell, it cannot tell a command killed by KILL from one that ran
// `exit 137`.
type ExitError struct {
	Code       int
	Signal     string
	StderrTail string // last lines of stderr, secrets already redacted
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("exit status %d (signal %s)", e.Code, e.Signal)
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// NewExitError is the one way an *ExitError is made: from the exit status
// (code) or, when the transport learnt it, the name of the signal that
// killed the command. It is exported for Transports outside this package
// (hoststest's Fake), so every one reports a status the same way.
func NewExitError(code int, signal, stderrTail string) *ExitError {
	if signal != "" {
		signal = strings.TrimPrefix(signal, "SIG")
		code = 255 // a signal this table does not know
		for n, name := range linuxSignals {
			if name == signal && n > 0 {
				code = 128 + n
			}
		}
	} else if n := code - 128; n > 0 && n < len(linuxSignals) {
		signal = linuxSignals[n]
	}
	return &ExitError{Code: code, Signal: signal, StderrTail: stderrTail}
}

// linuxSignals are the signal names by number on Linux (the hosts plan
// runs on), without "SIG" as SSH's exit-signal spells them.
var linuxSignals = [...]string{1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS",
	8: "FPE", 9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM",
	16: "STKFLT", 17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU", 23: "URG",
	24: "XCPU", 25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO", 30: "PWR", 31: "SYS"}
