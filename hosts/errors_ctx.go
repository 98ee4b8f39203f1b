package hosts

import (
	"context"
	"fmt"
)

// ContextError turns a done context into the error calls return: it wraps
// ctx.Err() (so errors.Is(err, context.Canceled) works) and, for a deadline,
// ErrTimeout as well. It is exported so Transports outside this package
// (hoststest's Fake) fail a cancelled or timed-out call as this one does.
func ContextError(ctx context.Context) error {
	err := ctx.Err()
	if err == context.DeadlineExceeded {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// kindError is an error of a sentinel kind (errors.Is(err, kind)) whose
// message is err's alone, for when the sentinel's own text would mislead
// (no sudo password given is not a rejected one).
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
