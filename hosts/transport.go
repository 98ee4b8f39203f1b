package hosts

import (
	"context"
	"io"
	"io/fs"
)

// Transport is how the executor talks to one host. Implementations keep one
// connection per host and multiplex many concurrent calls over it; every
// method is safe for concurrent use and honours ctx (cancellation ends the
// remote process, not just the local wait).
//
// Implementations: the in-memory hoststest.Fake (unit tests) and the SSH
// transport (golang.org/x/crypto/ssh + github.com/pkg/sftp). Both pass the
// same conformance suite in hosts/conformance.
type Transport interface {
	// Run runs c.Cmd with the remote user's POSIX shell (sh -c semantics).
	// A command that ran and exited non-zero returns an *ExitError; any
	// other error means the command's fate is unknown (connection lost,
	// timeout, auth...) and is one of the typed errors in errors.go.
	Run(ctx context.Context, c *Command) error

	// Push installs a file atomically: temp file beside the destination,
	// sha256 verified, renamed into place (or, as non-root with sudo, staged
	// privately and installed with mode/owner/group). When the remote file
	// already has the same sha256, mode and owner it is not written and
	// Changed is false. With u.DryRun nothing is written; Changed reports
	// whether a push would change the host.
	Push(ctx context.Context, u *Upload) (PushResult, error)

	// Fetch reads a remote file. With d.LocalPath set the content is written
	// there atomically and the returned slice is nil.
	Fetch(ctx context.Context, d *Download) ([]byte, error)

	// Close ends the connection and everything running on it.
	Close() error
}

// Command is one remote command.
type Command struct {
	// Cmd is a shell command line. Scripts do not travel here: send them
	// on Stdin to an interpreter (Cmd "/bin/sh -s"), never through quoting.
	Cmd string
	// Env is exported for the command only (the transport quotes it; it
	// does not rely on the server's AcceptEnv).
	Env map[string]string
	// Sudo runs the command as root through sudo. A sudo password, when the
	// host needs one, is fed on stdin ahead of Stdin with a unique prompt; it
	// never appears on argv or in any output.
	Sudo bool
	// Stdin, Stdout and Stderr may be nil.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Upload describes a file to install on a host. Exactly one of Content and
// LocalPath is set.
type Upload struct {
	Path      string // absolute destination path on the host
	Content   []byte
	LocalPath string
	Mode      fs.FileMode // permission bits; 0 means 0644
	Owner     string      // user name or numeric id; "" keeps the connecting (or sudo) user
	Group     string
	Sudo      bool
	DryRun    bool
	// Progress, when set, is called as bytes are sent (total is the size).
	Progress func(sent, total int64)
}

// PushResult says what a push did.
type PushResult struct {
	Changed bool   // the destination's content, mode or owner differed
	SHA256  string // hex digest of the content
}

// Download describes a remote file to read.
type Download struct {
	Path      string
	Sudo      bool
	LocalPath string
	// MaxBytes, when > 0, bounds a fetch into memory (no LocalPath): a
	// bigger file fails with an error wrapping ErrTooLarge, having held
	// no more than MaxBytes.
	MaxBytes int64
}
