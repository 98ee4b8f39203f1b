package hosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// smallPushMax is the largest content pushed in one session (pushSmall).
// Each session costs a channel open and a shell start on the host (~15–20
// ms on the lab); the three-session sftp path only pays off when its
// concurrent writes save more than that, i.e. for big files. Draining the
// content of an unchanged file through stdin costs little below this size.
const smallPushMax = 1 << 20

// Markers the push script prints on stdout to say what it did.
const (
	pushMarkChanged   = "plan-push: changed"
	pushMarkUnchanged = "plan-push: unchanged"
)

// pushSmall pushes content of at most smallPushMax bytes in one session:
// a script (under sudo when asked) gets the content on stdin and
//
//  1. compares the destination's mode, owner/group, size and sha256 with
//     the expected ones, as remoteMatches does; when they match it drains
//     stdin, writes nothing and prints the unchanged marker;
//  2. otherwise makes the parent directories, writes stdin to a temp file
//     beside the destination (.NAME.plan-RANDOM, created exclusively and
//     private), sets owner/group and then mode (chown clears setuid/setgid
//     bits, so chmod comes last), checks the temp file's sha256, renames it
//     over the destination and prints the changed marker.
//
// Under sudo the whole script runs as root, so the temp file is written in
// the destination's directory directly: like `install` into that directory
// on the sftp path, it gets the directory's SELinux context. A failure or
// a cancellation removes the temp file (trap, then once more from here on a
// fresh context); the destination changes only by the rename. A truncated
// stdin (lost connection) fails the sha256 check.
func (t *SSH) pushSmall(ctx context.Context, u *Upload, open func() (io.ReadCloser, error), size int64, sum string, mode os.FileMode, owner, group string) (bool, error) {
	src, err := open()
	if err != nil {
		return false, err
	}
	defer src.Close()
	// The file may have grown since it was hashed: send the hashed size
	// only (a change in place is caught by the remote sha256 check).
	var in io.Reader = &io.LimitedReader{R: src, N: size}
	if u.Progress != nil {
		u.Progress(0, size)
		in = &progressReader{r: in, total: size, fn: u.Progress}
	}

	tmp := stagePath(u.Path)
	script := smallPushScript(u.Path, tmp, sum, size, mode, owner, group)

	var stdout, stderr bytes.Buffer
	err = t.Run(ctx, &Command{Cmd: script, Sudo: u.Sudo, Stdin: in, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		if ctx.Err() != nil || !errors.As(err, new(*ExitError)) {
			// Killed or cut off: the script's trap may not have run.
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			t.Run(cctx, &Command{Cmd: "rm -f " + ShellQuote(tmp), Sudo: u.Sudo})
		}
		return false, withStderr("write", err)
	}
	switch strings.TrimSpace(stdout.String()) {
	case pushMarkChanged:
		return true, nil
	case pushMarkUnchanged:
		return false, nil
	}
	return false, fmt.Errorf("write: unexpected output %q from the push script", stdout.String())
}

// smallPushScript renders pushSmall's shell script. Everything variable is
// quoted; sum, size and mode are plan's own hex/decimal/octal strings.
func smallPushScript(dest, tmp, sum string, size int64, mode os.FileMode, owner, group string) string {
	q := ShellQuote
	m := strconv.FormatUint(uint64(mode), 8)
	var b strings.Builder
	fmt.Fprintf(&b, "p=%s; t=%s; d=%s; ", q(dest), q(tmp), q(path.Dir(dest)))
	b.WriteString(refuseDirectory)
	// 1. Compare. stat's %a prints the octal mode without leading zeros,
	// as FormatUint does. An unreadable destination counts as different.
	b.WriteString(`if [ -f "$p" ] && set -- $(stat -c '%a %U %u %G %g %s' "$p" 2>/dev/null) && [ "$#" = 6 ]`)
	fmt.Fprintf(&b, ` && [ "$1" = %s ] && [ "$6" = %d ]`, m, size)
	// Owner "" without sudo: a non-root user cannot choose, so ownership
	// is not compared.
	if owner != "" {
		fmt.Fprintf(&b, ` && { [ "$2" = %s ] || [ "$3" = %s ]; }`, q(owner), q(owner))
	}
	if group != "" {
		fmt.Fprintf(&b, ` && { [ "$4" = %s ] || [ "$5" = %s ]; }`, q(group), q(group))
	}
	fmt.Fprintf(&b, ` && s=$(%s 2>/dev/null) && [ "${s%%%% *}" = %s ]; then cat >/dev/null; echo %s; exit 0; fi; `,
		sha256SmallCmd(`"$p"`), sum, q(pushMarkUnchanged))
	// 2. Write beside the destination, verify, rename.
	b.WriteString(`set -e; trap 'rm -f "$t"' EXIT; trap 'exit 1' HUP INT TERM; `)
	installTemp(&b, "cat", sum, m, owner, group, sha256SmallCmd)
	fmt.Fprintf(&b, `; echo %s`, q(pushMarkChanged))
	return b.String()
}

// refuseDirectory is the script fragment (with $p the destination) that
// fails a push whose destination is a directory or a symlink to one: a
// rename would put the file inside it.
const refuseDirectory = `if [ -d "$p" ]; then echo "plan-push: $p is a directory" >&2; exit 1; fi; `

// installTemp writes the script fragment that, with $p the destination,
// $t the temp file beside it and $d its directory, creates $t exclusively
// (umask 077: nobody else can open it while it fills) as descriptor 3,
// copies src (a shell command writing the content on stdout) into it,
// checks its sha256, sets owner/group and then mode (chown clears
// setuid/setgid bits), and renames it over the destination.
//
// Everything after the creation goes through the descriptor, as
// /proc/self/fd/3, never through the path $t: whoever can write the
// destination's directory may swap $t for a symlink meanwhile, and chown
// or chmod by path would then change the file it points to. A $t that is
// no longer the file written fails the push (the rename would install the
// other one), and the rename is `mv -T`, so a directory that appears at $p
// is not entered.
func installTemp(b *strings.Builder, src, sum, mode, owner, group string, sha func(string) string) {
	b.WriteString(`[ -d "$d" ] || mkdir -p "$d"; umask 077; set -C; exec 3>"$t"; set +C; `)
	fmt.Fprintf(b, `%s >&3; `, src)
	fmt.Fprintf(b, `s=$(%s); s=${s%%%% *}; `, sha(`/proc/self/fd/3`))
	fmt.Fprintf(b, `if [ "$s" != %s ]; then echo "sha256 mismatch: got $s" >&2; exit 1; fi; `, sum)
	if owner != "" || group != "" {
		fmt.Fprintf(b, `chown %s /proc/self/fd/3; `, ShellQuote(owner+optColon(group)))
	}
	fmt.Fprintf(b, `chmod %s /proc/self/fd/3; `, mode)
	b.WriteString(`if [ -h "$t" ] || ! [ "$t" -ef /proc/self/fd/3 ]; then echo "plan-push: $t was replaced while being written: someone else can write $d" >&2; exit 1; fi; `)
	b.WriteString(`exec 3>&-; mv -fT "$t" "$p"`)
}

// stagePath is the temp file beside dest that a push fills and renames.
func stagePath(dest string) string {
	return path.Dir(dest) + "/." + path.Base(dest) + ".plan-" + randomToken()[:12]
}

// withStderr wraps a push command's error; an *ExitError's stderr tail
// (chown: invalid user, No space left on device) is part of the message,
// since it is all that says why.
func withStderr(what string, err error) error {
	var ee *ExitError
	if errors.As(err, &ee) && ee.StderrTail != "" {
		return fmt.Errorf("%s: %w: %s", what, err, ee.StderrTail)
	}
	return fmt.Errorf("%s: %w", what, err)
}
