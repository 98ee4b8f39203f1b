package hosts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// ctxError turns a done context into the error calls return: it wraps
// ctx.Err() (so errors.Is(err, context.Canceled) works) and, for a deadline,
// ErrTimeout as well.
func ctxError(ctx context.Context) error {
	err := ctx.Err()
	if err == context.DeadlineExceeded {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// writeFileAtomic writes data to a temp file beside path and renames it into
// place, so readers never see a partial file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
