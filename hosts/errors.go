package hosts

import (
	"errors"
	"fmt"
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
// a non-zero status (or was killed by a signal: Code is then -1).
type ExitError struct {
	Code       int
	Signal     string
	StderrTail string // last lines of stderr, secrets already redacted
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("killed by signal %s", e.Signal)
	}
	return fmt.Sprintf("exit status %d", e.Code)
}
