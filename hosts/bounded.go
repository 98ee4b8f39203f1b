package hosts

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errExpired is what bounded returns when its limit passed first: the call
// gave no answer in time (a wedged connection), as opposed to an error of
// the call's own.
var errExpired = fmt.Errorf("%w: no answer in time", ErrTimeout)

// bounded runs call in a goroutine of its own and returns its result,
// unless ctx ends, limit passes (limit <= 0: no limit) or expired closes
// (nil: never) first. x/crypto/ssh and pkg/sftp calls take no context, and
// a wedged connection would block them for ever; this is the one place
// that races them against a bound.
//
// When the caller stops waiting, abort (when non-nil) is called to make
// call return sooner (closing the socket it reads, say), and whatever call
// still returns is handed to late (when non-nil), which closes it: a
// session, sftp client or remote file handle that arrives after its caller
// gave up is never leaked. The error is then ContextError(ctx) or errExpired.
func bounded[T any](ctx context.Context, limit time.Duration, expired <-chan struct{}, call func() (T, error), abort func(), late func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	var timeout <-chan time.Time
	if limit > 0 {
		timer := time.NewTimer(limit)
		defer timer.Stop()
		timeout = timer.C
	}
	var err error
	select {
	case r := <-done:
		return r.v, r.err
	case <-timeout:
		err = errExpired
	case <-expired:
		err = errExpired
	case <-ctx.Done():
		err = ContextError(ctx)
	}
	if abort != nil {
		abort()
	}
	go func() {
		r := <-done
		if late != nil && r.err == nil {
			late(r.v)
		}
	}()
	var zero T
	return zero, err
}

// expiredAfter reports whether err is bounded's own limit passing.
func expiredAfter(err error) bool { return errors.Is(err, errExpired) }
