package hosts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// Fetch implements Transport: sftp for files the user can read, `cat`
// under sudo otherwise.
func (t *SSH) Fetch(ctx context.Context, d *Download) ([]byte, error) {
	data, err := t.fetch(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("%s: fetch %s: %w", t.label(), d.Path, err)
	}
	if d.LocalPath == "" {
		return data, nil
	}
	if err := writeFileAtomic(d.LocalPath, data, 0o600); err != nil {
		return nil, fmt.Errorf("%s: fetch %s: %w", t.label(), d.Path, err)
	}
	return nil, nil
}

func (t *SSH) fetch(ctx context.Context, d *Download) ([]byte, error) {
	if d.Sudo && t.ep.User != "root" {
		var out bytes.Buffer
		err := t.Run(ctx, &Command{Cmd: "cat -- " + ShellQuote(d.Path), Sudo: true, Stdout: &out})
		if err != nil {
			if ee, ok := err.(*ExitError); ok && bytes.Contains([]byte(ee.StderrTail), []byte("No such file")) {
				return nil, fmt.Errorf("%w: %s", os.ErrNotExist, ee.StderrTail)
			}
			return nil, err
		}
		return out.Bytes(), nil
	}
	c, err := t.sftpClient(ctx)
	if err != nil {
		return nil, err
	}
	// Opening is one bounded request; the copy is bounded by ctx only, so
	// big files are not cut off by the per-request timeout.
	var f interface {
		io.Reader
		Close() error
	}
	if err := t.sftpOp(ctx, func() error {
		var err error
		f, err = c.Open(d.Path)
		return err
	}); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			f.Close()
		case <-done:
		}
	}()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, f)
	close(done)
	f.Close()
	if ctx.Err() != nil {
		return nil, ctxError(ctx)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
