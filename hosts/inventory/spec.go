package inventory

import (
	"fmt"
	"strconv"

	"github.com/plan-dev/plan/internal/hostarg"
)

// Spec is a host as the plan and the command line name it, before
// resolution: the plan's host block or a -H argument.
type Spec struct {
	// Name is the host's name: looked up in ssh_config (Host/Match), or,
	// with the prefix "vagrant:", a Vagrant machine name.
	Name string
	// Address, User and Port override what ssh_config says, like `ssh -o
	// HostName=... -l USER -p PORT NAME` would. Empty/0 means unset.
	Address string
	User    string
	Port    int
}

// VagrantPrefix marks a Spec.Name that names a Vagrant machine.
const VagrantPrefix = "vagrant:"

// ParseHostArg parses "[user@]name[:port]" (IPv6 as "[::1]:22"), with the
// grammar -H uses too (internal/hostarg): one @ at most, no leading "-" and
// no shell metacharacters in the name or user.
func ParseHostArg(s string) (Spec, error) {
	h, err := hostarg.Parse(s)
	if err != nil {
		return Spec{}, fmt.Errorf("host %q: %w", s, err)
	}
	return Spec{Name: h.Name, User: h.User, Port: h.Port}, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return n, nil
}
