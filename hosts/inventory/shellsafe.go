package inventory

import (
	"fmt"
	"strings"

	"github.com/plan-dev/plan/hosts"
)

// Values that end up in a shell on the operator's machine.
//
// ssh_config's ProxyCommand and `Match exec` are run with /bin/sh after
// their %-tokens are expanded, and the host name, the original name and
// the user in those tokens can come from a plan's `address`, a -H
// argument or a variable. As OpenSSH does since 9.6 (CVE-2023-51385),
// such names are refused when they hold a shell metacharacter, white
// space or a control character, or begin with "-" (they would be read as
// an option), before any expansion; and what is substituted is quoted
// besides (see expandShellTokens).

// shellMeta are the characters OpenSSH refuses in host and user names.
const shellMeta = "'`\"$\\;&<>|(){}"

// checkName refuses a host name, address or user name (what says which)
// that is not safe to substitute into a shell command.
func checkName(what, v string) error {
	if strings.HasPrefix(v, "-") {
		return fmt.Errorf("%s %q begins with \"-\"", what, v)
	}
	if r, bad := badRune(v, true); bad {
		return fmt.Errorf("%s %q contains %q, a shell metacharacter, space or control character", what, v, r)
	}
	return nil
}

// checkSpec checks what a plan or -H gave for a host, before anything
// (ssh -G, the built-in parser, vagrant) sees it.
func checkSpec(s Spec) error {
	if err := checkName("host name", strings.TrimPrefix(s.Name, VagrantPrefix)); err != nil {
		return err
	}
	if s.Address != "" {
		if err := checkName("address", s.Address); err != nil {
			return err
		}
	}
	if s.User != "" {
		return checkName("user", s.User)
	}
	return nil
}

// badRune finds a shell metacharacter or control character in v (and
// white space when noSpace).
func badRune(v string, noSpace bool) (rune, bool) {
	for _, r := range v {
		if r < ' ' || r == 0x7f || noSpace && r == ' ' || strings.ContainsRune(shellMeta, r) {
			return r, true
		}
	}
	return 0, false
}

// expandShellTokens expands the %-tokens of a command that /bin/sh will
// run (ProxyCommand, Match exec). Each value must be free of shell
// metacharacters (names are checked earlier, this is the last guard for
// values from elsewhere), and a value substituted outside quotes is
// quoted, so it is one word whatever it holds; inside the user's own
// quotes it is put as is.
func expandShellTokens(s string, t tokens) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	var quote byte // the open quote at this point: 0, '\'' or '"'
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && quote != '\'' && i+1 < len(s):
			b.WriteByte(c)
			i++
			b.WriteByte(s[i])
			continue
		case (c == '\'' || c == '"') && (quote == 0 || quote == c):
			if quote == 0 {
				quote = c
			} else {
				quote = 0
			}
		}
		if c != '%' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		var v string
		noSpace := true
		switch s[i] {
		case '%':
			b.WriteByte('%')
			continue
		case 'h':
			v = t.host
		case 'n':
			v = t.original
		case 'r':
			v = t.remoteUser
		case 'u':
			v, noSpace = t.localUser, false
		case 'd':
			v, noSpace = t.home, false
		case 'p':
			v = t.port
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
			continue
		}
		if r, bad := badRune(v, noSpace); bad || noSpace && strings.HasPrefix(v, "-") {
			if !bad {
				r = '-'
			}
			return "", fmt.Errorf("refusing to put %q (%%%c) into a shell command: it holds %q", v, s[i], r)
		}
		if quote == 0 {
			v = hosts.ShellQuote(v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
