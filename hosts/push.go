package hosts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// Push implements Transport.
//
// Content up to smallPushMax goes in one session (see pushSmall). Bigger
// content, and DryRun, take these steps: compare the remote sha256, mode,
// owner and group with one command (with sudo when asked); when they
// match, return Changed=false. Otherwise upload with sftp (concurrent
// writes) into a private 0700 directory under /tmp; then one command (with
// sudo when asked) copies it into a temp file beside the destination,
// verifies the sha256, sets owner/group and mode on the open file and
// renames it into place (see installTemp). Temp files are removed on
// failure; the destination is only ever replaced by rename. Missing parent
// directories are made (like `install -D`).
func (t *SSH) Push(ctx context.Context, u *Upload) (PushResult, error) {
	res, err := t.push(ctx, u)
	if err != nil {
		return res, fmt.Errorf("%s: push %s: %w", t.label(), u.Path, err)
	}
	return res, nil
}

func (t *SSH) push(ctx context.Context, u *Upload) (PushResult, error) {
	if !path.IsAbs(u.Path) {
		return PushResult{}, errors.New("destination must be an absolute path")
	}
	open, size, localSum, err := uploadSource(u)
	if err != nil {
		return PushResult{}, err
	}
	var res PushResult
	mode := unixMode(u.Mode)
	if mode == 0 {
		mode = 0o644
	}
	useSudo := u.Sudo && t.ep.User != "root"
	owner, group := u.Owner, u.Group
	if owner == "" && useSudo {
		owner = "root"
	}

	if size <= smallPushMax && !u.DryRun {
		if res.SHA256, err = localSum(); err != nil {
			return res, err
		}
		changed, err := t.pushSmall(ctx, u, open, size, res.SHA256, mode, owner, group)
		res.Changed = changed
		return res, err
	}

	// The local file is being hashed meanwhile (uploadSource): the remote
	// check runs beside it, and a destination of another size (or none)
	// needs no local sha256 to be found different, so the upload starts
	// at once and the hash is awaited only for the verify.
	same, err := t.remoteMatches(ctx, u.Path, localSum, size, mode, owner, group, u.Sudo)
	if err != nil {
		return res, err
	}
	res.Changed = !same
	if same || u.DryRun {
		res.SHA256, err = localSum()
		return res, err
	}

	c, err := t.sftpClient(ctx)
	if err != nil {
		return res, err
	}
	// The upload goes to a private directory under /tmp, made 0700 before
	// anything is in it, so no one else can open the file while it fills
	// (sftp creates files with the server's default mode), and, /tmp being
	// sticky, no one else can swap the directory or the file in it.
	stageDir := "/tmp/plan-push-" + randomToken()
	staged := stageDir + "/" + path.Base(u.Path)
	if err := t.sftpOp(ctx, func() error { return c.Mkdir(stageDir) }); err != nil {
		return res, fmt.Errorf("stage dir: %w", err)
	}
	dropStaged := func() { t.cleanup(c, stageDir, true) }
	if err := t.sftpOp(ctx, func() error { return c.Chmod(stageDir, 0o700) }); err != nil {
		dropStaged()
		return res, fmt.Errorf("stage dir: %w", err)
	}
	if err := t.upload(ctx, c, open, size, staged, u.Progress); err != nil {
		dropStaged()
		return res, err
	}

	sum, err := localSum()
	if err != nil {
		dropStaged()
		return res, err
	}
	res.SHA256 = sum
	// One command (as root under sudo) copies the staged file into a temp
	// file beside the destination, as pushSmall's script writes stdin
	// there: same checks, same descriptor-only chown/chmod, same rename.
	target := stagePath(u.Path)
	q := ShellQuote
	var script strings.Builder
	fmt.Fprintf(&script, "p=%s; t=%s; d=%s; g=%s; ", q(u.Path), q(target), q(path.Dir(u.Path)), q(stageDir))
	script.WriteString(`trap 'rm -f "$t"; rm -rf "$g"' EXIT; trap 'exit 1' HUP INT TERM; `)
	script.WriteString(refuseDirectory)
	script.WriteString("set -e; ")
	installTemp(&script, `cat "$g"/`+q(path.Base(u.Path)), sum, strconv.FormatUint(uint64(mode), 8), owner, group, sha256Cmd)

	var stderr bytes.Buffer
	if err := t.Run(ctx, &Command{Cmd: script.String(), Sudo: u.Sudo, Stderr: &stderr}); err != nil {
		if ctx.Err() != nil || !errors.As(err, new(*ExitError)) {
			// The command may not have cleaned up: try again on a fresh,
			// short context.
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			t.Run(cctx, &Command{Cmd: "rm -rf " + q(target) + " " + q(stageDir), Sudo: u.Sudo})
		}
		return res, withStderr("install", err)
	}
	return res, nil
}

func optColon(g string) string {
	if g == "" {
		return ""
	}
	return ":" + g
}

// sha256Cmd is a shell command printing the sha256 of the (quoted) path as
// the first word of its output. OpenSSL's digest (SHA extensions, AVX2)
// takes about a third of the CPU of coreutils' sha256sum, which matters when
// a push verifies a large file; sha256sum is the fallback when openssl is
// missing.
func sha256Cmd(quoted string) string {
	return "{ openssl dgst -sha256 -r " + quoted + " 2>/dev/null || sha256sum " + quoted + "; }"
}

// sha256SmallCmd is sha256Cmd for small files (pushSmall's): there the
// process start dominates, and coreutils' sha256sum starts in a third of
// the time OpenSSL 3 takes to load its configuration and providers.
func sha256SmallCmd(quoted string) string {
	return "{ sha256sum " + quoted + " 2>/dev/null || openssl dgst -sha256 -r " + quoted + "; }"
}

// unixMode turns m into the st_mode bits chmod takes: permissions plus
// setuid/setgid/sticky, whether m carries them as Go's flags or, as plan
// files give them, as the raw octal 04000/02000/01000.
func unixMode(m os.FileMode) os.FileMode {
	u := m & 0o7777
	if m&os.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// uploadSource gives a reader factory and the size of what u uploads,
// streaming local files instead of loading them, and its hex sha256 as a
// function: a local file is hashed in the background from now on, and
// the function waits for it.
func uploadSource(u *Upload) (open func() (io.ReadCloser, error), size int64, sum func() (string, error), err error) {
	if u.LocalPath != "" && u.Content != nil {
		return nil, 0, nil, errors.New("set either Content or LocalPath, not both")
	}
	if u.LocalPath == "" {
		h := sha256.Sum256(u.Content)
		hexSum := hex.EncodeToString(h[:])
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(u.Content)), nil },
			int64(len(u.Content)), func() (string, error) { return hexSum, nil }, nil
	}
	fi, err := os.Stat(u.LocalPath)
	if err != nil {
		return nil, 0, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, nil, fmt.Errorf("%s is not a regular file", u.LocalPath)
	}
	type hashed struct {
		sum string
		err error
	}
	done := make(chan hashed, 1)
	go func() {
		n, s, err := localSums.sum(u.LocalPath)
		if err == nil && n != fi.Size() {
			err = fmt.Errorf("%s changed while being pushed (%d bytes, then %d)", u.LocalPath, fi.Size(), n)
		}
		done <- hashed{s, err}
	}()
	var once sync.Once
	var h hashed
	return func() (io.ReadCloser, error) { return os.Open(u.LocalPath) }, fi.Size(), func() (string, error) {
		once.Do(func() { h = <-done })
		return h.sum, h.err
	}, nil
}

// localSums remembers the sha256 of local files by path, size and
// modification time (as the run state stamps sources), so a file pushed to many hosts (a binary to
// every node) is read and hashed once, not once per host: pushes of one
// file running at once wait for the first to hash it. A file changed in
// place between the hash and the upload is caught by the remote check
// after the upload, as before.
var localSums = &sumCache{m: map[string]*sumEntry{}}

type sumCache struct {
	mu sync.Mutex
	m  map[string]*sumEntry
}

type sumEntry struct {
	key  string // size and mtime when hashed (fileKey)
	done chan struct{}
	n    int64
	sum  string
	err  error
}

func (c *sumCache) sum(path string) (int64, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, "", err
	}
	key := fileKey(fi)
	c.mu.Lock()
	e := c.m[path]
	if e == nil || e.key != key {
		e = &sumEntry{key: key, done: make(chan struct{})}
		c.m[path] = e
		c.mu.Unlock()
		e.n, e.sum, e.err = hashFile(path)
		close(e.done)
		if e.err != nil {
			c.mu.Lock()
			if c.m[path] == e {
				delete(c.m, path)
			}
			c.mu.Unlock()
		}
		return e.n, e.sum, e.err
	}
	c.mu.Unlock()
	<-e.done
	return e.n, e.sum, e.err
}

func fileKey(fi os.FileInfo) string {
	return fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano())
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// remoteMatches reports whether the destination already has this content,
// mode and owner (group too when given).
//
// The remote file is hashed only when its size matches: replacing a big
// binary with one of another size costs no remote read.
func (t *SSH) remoteMatches(ctx context.Context, p string, localSum func() (string, error), size int64, mode os.FileMode, owner, group string, sudo bool) (bool, error) {
	q := ShellQuote(p)
	cmd := "if [ -f " + q + " ]; then set -- $(stat -c '%a %U %u %G %g %s' " + q + ") && echo \"$1 $2 $3 $4 $5\" && " +
		"if [ \"$6\" = " + strconv.FormatInt(size, 10) + " ]; then " + sha256Cmd(q) + "; fi; fi"
	var out bytes.Buffer
	if err := t.Run(ctx, &Command{Cmd: cmd, Sudo: sudo, Stdout: &out}); err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			return false, nil // unreadable: push decides
		}
		return false, fmt.Errorf("check remote: %w", err)
	}
	f := strings.Fields(out.String())
	if len(f) < 6 {
		return false, nil
	}
	m, err := strconv.ParseUint(f[0], 8, 32)
	if err != nil || os.FileMode(m) != mode {
		return false, nil
	}
	sum, err := localSum()
	if err != nil {
		return false, err
	}
	if f[5] != sum {
		return false, nil
	}
	// Owner "" without sudo: a non-root user cannot choose, so ownership
	// is not compared.
	if owner != "" && owner != f[1] && owner != f[2] {
		return false, nil
	}
	if group != "" && group != f[3] && group != f[4] {
		return false, nil
	}
	return true, nil
}

// upload writes the content to remote path p with sftp's concurrent
// writes, reporting progress; cancellation closes the remote file.
func (t *SSH) upload(ctx context.Context, c *sftp.Client, open func() (io.ReadCloser, error), size int64, p string, progress func(int64, int64)) error {
	src, err := open()
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := sftpCall(ctx, t, func() (*sftp.File, error) {
		return c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL)
	}, closeFile)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	done := make(chan error, 1)
	var r io.Reader = src
	if progress != nil {
		progress(0, size)
		r = &progressReader{r: src, total: size, fn: progress}
	}
	// sftp only writes concurrently when it can tell the size.
	r = &io.LimitedReader{R: r, N: size}
	go func() {
		_, err := f.ReadFrom(r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	case <-ctx.Done():
		f.Close()
		return ContextError(ctx)
	}
}

type progressReader struct {
	r     io.Reader
	sent  int64
	total int64
	fn    func(int64, int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		p.fn(p.sent, p.total)
	}
	return n, err
}

// cleanup removes a temp file or directory best-effort, bounded.
func (t *SSH) cleanup(c *sftp.Client, p string, dir bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.sftpOp(ctx, func() error {
		if dir {
			return c.RemoveAll(p)
		}
		return c.Remove(p)
	})
}
