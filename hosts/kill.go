package hosts

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// kill ends the remote process group through a fresh session: TERM, a
// short grace, then KILL.
func (t *SSH) kill(pgid int, useSudo bool, password string) {
	if pgid <= 1 {
		return
	}
	g := strconv.Itoa(pgid)
	script := "kill -TERM -" + g + " 2>/dev/null || exit 0; i=0; while [ $i -lt 20 ]; do kill -0 -" + g +
		" 2>/dev/null || exit 0; sleep 0.1; i=$((i+1)); done; kill -KILL -" + g + " 2>/dev/null; exit 0"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, _, release, err := t.session(ctx, true)
	if err != nil {
		return
	}
	defer release()
	defer s.Close()
	cmd := "/bin/sh -c " + ShellQuote(script)
	if useSudo {
		if password != "" {
			s.Stdin = strings.NewReader(password + "\n")
			cmd = "sudo -S -k -p '' -- " + cmd
		} else {
			cmd = "sudo -n -- " + cmd
		}
	}
	bounded(ctx, 0, nil, func() (struct{}, error) { return struct{}{}, s.Run(cmd) }, nil, nil)
}
