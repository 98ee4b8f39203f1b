package hosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pkg/sftp"
)

// Fetch implements Transport: sftp for files the user can read, `sudo cat`
// otherwise. With LocalPath the content streams into a temp file beside it
// that is renamed into place, so big files never sit in memory and a failed
// fetch leaves no partial local file.
func (t *SSH) Fetch(ctx context.Context, d *Download) ([]byte, error) {
	var sink io.Writer
	var buf bytes.Buffer
	var tmp *os.File
	capped := &capWriter{w: &buf, max: d.MaxBytes}
	if d.LocalPath == "" {
		sink = capped
	} else {
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(d.LocalPath), "."+filepath.Base(d.LocalPath)+".tmp-*")
		if err != nil {
			return nil, fmt.Errorf("%s: fetch %s: %w", t.label(), d.Path, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		sink = tmp
	}
	err := t.fetch(ctx, d, sink)
	if capped.over {
		err = fmt.Errorf("%w: over %d bytes", ErrTooLarge, d.MaxBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: fetch %s: %w", t.label(), d.Path, err)
	}
	if tmp == nil {
		return buf.Bytes(), nil
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("%s: fetch %s: %w", t.label(), d.Path, err)
	}
	if err := os.Rename(tmp.Name(), d.LocalPath); err != nil {
		return nil, fmt.Errorf("%s: fetch %s: %w", t.label(), d.Path, err)
	}
	return nil, nil
}

// exitNoFile is the status of a sudo fetch whose file does not exist.
const exitNoFile = "66"

func (t *SSH) fetch(ctx context.Context, d *Download, sink io.Writer) error {
	if d.Sudo && t.ep.User != "root" {
		// A missing file is told by its own exit status (sysexits'
		// EX_NOINPUT), not by cat's message, which depends on the
		// host's locale.
		q := ShellQuote(d.Path)
		err := t.Run(ctx, &Command{Cmd: "[ -e " + q + " ] || exit " + exitNoFile + "; exec cat -- " + q, Sudo: true, Stdout: sink})
		var ee *ExitError
		if errors.As(err, &ee) && strconv.Itoa(ee.Code) == exitNoFile {
			return fmt.Errorf("%w: %s", os.ErrNotExist, d.Path)
		}
		return err
	}
	c, err := t.sftpClient(ctx)
	if err != nil {
		return err
	}
	// Opening is one bounded request; the copy is bounded by ctx only, so
	// big files are not cut off by the per-request timeout.
	f, err := sftpCall(ctx, t, func() (*sftp.File, error) { return c.Open(d.Path) }, closeFile)
	if err != nil {
		return err
	}
	if d.MaxBytes > 0 && d.LocalPath == "" {
		// Too big is known before any byte is read.
		if fi, err := sftpCall(ctx, t, f.Stat, nil); err == nil && fi.Mode().IsRegular() && fi.Size() > d.MaxBytes {
			f.Close()
			return fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, fi.Size(), d.MaxBytes)
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			f.Close()
		case <-done:
		}
	}()
	_, err = io.Copy(sink, f)
	close(done)
	f.Close()
	if ctx.Err() != nil {
		return ContextError(ctx)
	}
	return err
}

// capWriter passes at most max bytes (max 0: all) to w and drops the rest,
// noting that it did: a fetch past its bound keeps draining the remote
// stream (a `sudo cat` would otherwise block on a full channel) without
// holding it.
type capWriter struct {
	w    io.Writer
	max  int64
	n    int64
	over bool
}

func (c *capWriter) Write(p []byte) (int, error) {
	if c.max > 0 && c.n+int64(len(p)) > c.max {
		c.over = true
		keep := c.max - c.n
		if keep > 0 {
			c.w.Write(p[:keep])
			c.n += keep
		}
		return len(p), nil
	}
	c.n += int64(len(p))
	return c.w.Write(p)
}
