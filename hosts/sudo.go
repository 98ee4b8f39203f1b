package hosts

import (
	"context"
	"errors"
	"fmt"
)

// sudoPassword probes once per transport (a re-dialed connection keeps the
// answer: it is the same host and user) whether sudo needs a password
// (`sudo -n true`, as a plain command: in a reused shell when it can);
// only then is the run's sudo password fetched (asked
// once per run or PLAN_SUDO_PASSWORD). Hosts that need none never get it.
func (t *SSH) sudoPassword(ctx context.Context) (string, error) {
	t.mu.Lock()
	known := t.sudoPwd
	t.mu.Unlock()
	if known == nil {
		// In a reused shell when there is one (one round trip; a
		// session of its own costs two: its channel, then its exec).
		probe := &Command{Cmd: "sudo -n true 2>/dev/null"}
		perr := t.runInShell(ctx, probe, false, "")
		if perr == errNoShell {
			perr = t.run(ctx, probe, false, "")
		}
		var ee *ExitError
		if perr != nil && !errors.As(perr, &ee) {
			return "", perr
		}
		need := perr != nil
		t.mu.Lock()
		t.sudoPwd = &need
		known = &need
		t.mu.Unlock()
	}
	if !*known {
		return "", nil
	}
	p, err := t.d.secret(ctx, "sudo-password", EnvSudoPassword, fmt.Sprintf("[sudo] password for %s: ", t.ep.Destination()))
	if err != nil {
		return "", &kindError{kind: ErrSudoPassword, err: fmt.Errorf("%s: sudo as %s needs a password: %w", t.label(), t.ep.User, err)}
	}
	return p, nil
}
