package hostarg

import (
	"fmt"
	"strconv"
	"strings"
)

// VagrantPrefix marks a name that is a Vagrant machine.
const VagrantPrefix = "vagrant:"

// Host is one parsed host.
type Host struct {
	User string // "" when not given
	Name string // the name or address; "vagrant:NAME" for a Vagrant machine
	Port int    // 0 when not given
}

// Parse parses one host. The error says what is wrong in words a user can
// act on; it does not repeat the whole argument (the caller does).
func Parse(s string) (Host, error) {
	var h Host
	rest := s
	if strings.Count(rest, "@") > 1 {
		return Host{}, fmt.Errorf("more than one @ (a user name cannot contain @)")
	}
	if u, r, ok := strings.Cut(rest, "@"); ok {
		if u == "" {
			return Host{}, fmt.Errorf("empty user before @")
		}
		if err := checkUser(u); err != nil {
			return Host{}, err
		}
		h.User, rest = u, r
	}
	switch {
	case strings.HasPrefix(rest, VagrantPrefix):
		name := strings.TrimPrefix(rest, VagrantPrefix)
		if name == "" {
			return Host{}, fmt.Errorf("vagrant: needs a machine name, as in vagrant:cp1")
		}
		if err := checkName(name); err != nil {
			return Host{}, err
		}
		h.Name = rest
		return h, nil
	case strings.HasPrefix(rest, "["):
		end := strings.Index(rest, "]")
		if end < 0 {
			return Host{}, fmt.Errorf("missing ] after the IPv6 address")
		}
		h.Name = rest[1:end]
		if h.Name == "" || !strings.Contains(h.Name, ":") {
			return Host{}, fmt.Errorf("brackets hold an IPv6 address, as in [::1]:22")
		}
		if tail := rest[end+1:]; tail != "" {
			if !strings.HasPrefix(tail, ":") {
				return Host{}, fmt.Errorf("unexpected text %q after ]", tail)
			}
			port, err := parsePort(tail[1:])
			if err != nil {
				return Host{}, err
			}
			h.Port = port
		}
	case strings.Count(rest, ":") > 1:
		h.Name = rest // a bare IPv6 address: no port without brackets
	default:
		name, portText, hasPort := strings.Cut(rest, ":")
		h.Name = name
		if hasPort {
			port, err := parsePort(portText)
			if err != nil {
				return Host{}, err
			}
			h.Port = port
		}
	}
	if h.Name == "" {
		return Host{}, fmt.Errorf("empty host name")
	}
	if err := checkName(h.Name); err != nil {
		return Host{}, err
	}
	return h, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q (a number from 1 to 65535)", p)
	}
	return n, nil
}

// badChars are refused in names and users: OpenSSH refuses shell
// metacharacters in both (they could reach a shell through %h/%r in
// ProxyCommand or Match exec), and = , / @ have a meaning in -H itself.
const badChars = "'\"`$\\;&<>|(){}*?!#~=,/@%^"

// checkName refuses what OpenSSH would refuse as a host name (a leading
// "-" would be read as an option), plus the separators of -H.
func checkName(n string) error {
	if strings.HasPrefix(n, "-") {
		return fmt.Errorf("host name %q starts with -", n)
	}
	for _, r := range n {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(badChars, r) {
			return fmt.Errorf("host name %q contains %q, which is not allowed in a host name", n, r)
		}
	}
	return nil
}

func checkUser(u string) error {
	if strings.HasPrefix(u, "-") {
		return fmt.Errorf("user %q starts with -", u)
	}
	for _, r := range u {
		if r <= ' ' || r == 0x7f || r == ':' || strings.ContainsRune(badChars, r) {
			return fmt.Errorf("user %q contains %q, which is not allowed in a user name", u, r)
		}
	}
	return nil
}

// Validate checks a name and user that come from elsewhere (a host block,
// ssh_config): the same rules as Parse applies to -H. Empty means unset.
func Validate(name, user string) error {
	if name != "" {
		n := strings.TrimPrefix(name, VagrantPrefix)
		if n == "" {
			return fmt.Errorf("vagrant: needs a machine name, as in vagrant:cp1")
		}
		if err := checkName(n); err != nil {
			return err
		}
	}
	if user != "" {
		return checkUser(user)
	}
	return nil
}
