package inventory

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/plan-dev/plan/hosts"
)

// vagrantSSHConfig runs `vagrant ssh-config NAME...` once for every machine
// asked for and parses its output (ssh_config text, one Host block per
// machine). Vagrant's own options (its key, UserKnownHostsFile /dev/null,
// StrictHostKeyChecking no) are honoured as ssh would honour them.
func (r *Resolver) vagrantSSHConfig(ctx context.Context, names []string) (map[string]sshOptions, error) {
	bin := r.VagrantPath
	if bin == "" {
		bin = "vagrant"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"ssh-config"}, names...)...)
	cmd.Env = hosts.ChildEnv()
	cmd.Dir = r.VagrantDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("vagrant ssh-config %s: %w: %s", strings.Join(names, " "), err, firstLine(stderr.String()))
	}
	return parseVagrantSSHConfig(string(out), names)
}

func parseVagrantSSHConfig(text string, names []string) (map[string]sshOptions, error) {
	res := map[string]sshOptions{}
	for _, n := range names {
		p := &configParser{originalHost: n, localUser: hosts.LocalUserName(), opts: sshOptions{}}
		if err := p.parseText(text, "vagrant ssh-config"); err != nil {
			return nil, err
		}
		if len(p.opts) > 0 {
			res[n] = p.opts
		}
	}
	return res, nil
}
