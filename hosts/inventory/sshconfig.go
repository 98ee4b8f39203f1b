package inventory

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plan-dev/plan/hosts"
)

// sshOptions maps lower-case ssh_config keywords to their values, the way
// `ssh -G` prints them: one entry per keyword, several values for the
// keywords that accumulate (identityfile) or take lists (userknownhostsfile).
type sshOptions map[string][]string

func (o sshOptions) get(k string) string {
	if v := o[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// accumulating keywords collect every value instead of keeping the first.
var accumulating = map[string]bool{
	"identityfile": true, "certificatefile": true, "localforward": true,
	"remoteforward": true, "dynamicforward": true, "sendenv": true, "setenv": true,
}

// configParser evaluates ssh_config files for one host the way OpenSSH
// does: the first value obtained for a keyword wins, Host and Match blocks
// apply by pattern, Include pulls files in (globbed, relative to ~/.ssh for
// the user file and /etc/ssh for the system file).
type configParser struct {
	originalHost string
	localUser    string
	home         string
	opts         sshOptions
	depth        int
}

// parseConfigFile applies one file; missing files are not an error, like
// OpenSSH's default files.
func (p *configParser) parseConfigFile(path, includeBase string, required bool) error {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) && !required {
			return nil
		}
		return fmt.Errorf("ssh_config: %w", err)
	}
	defer f.Close()
	return p.parse(bufio.NewScanner(f), path, includeBase)
}

func (p *configParser) parseText(text, name string) error {
	return p.parse(bufio.NewScanner(strings.NewReader(text)), name, "")
}

func (p *configParser) parse(sc *bufio.Scanner, name, includeBase string) error {
	active := true
	line := 0
	for sc.Scan() {
		line++
		key, args, err := splitConfigLine(sc.Text())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if key == "" {
			continue
		}
		switch key {
		case "host":
			active = p.matchHostPatterns(args, p.originalHost)
			continue
		case "match":
			ok, err := p.match(args)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", name, line, err)
			}
			active = ok
			continue
		}
		if !active {
			continue
		}
		if key == "include" {
			if err := p.include(args, includeBase); err != nil {
				return fmt.Errorf("%s:%d: %w", name, line, err)
			}
			continue
		}
		if len(args) == 0 {
			return fmt.Errorf("%s:%d: %s needs a value", name, line, key)
		}
		if accumulating[key] {
			p.opts[key] = append(p.opts[key], strings.Join(args, " "))
			continue
		}
		if _, seen := p.opts[key]; seen {
			continue
		}
		switch key {
		case "userknownhostsfile", "globalknownhostsfile":
			p.opts[key] = args
		default:
			p.opts[key] = []string{strings.Join(args, " ")}
		}
	}
	return sc.Err()
}

func (p *configParser) include(args []string, base string) error {
	if p.depth >= 16 {
		return fmt.Errorf("Include nested too deeply")
	}
	p.depth++
	defer func() { p.depth-- }()
	for _, a := range args {
		a = expandTilde(a, p.home)
		if !filepath.IsAbs(a) {
			a = filepath.Join(base, a)
		}
		matches, err := filepath.Glob(a)
		if err != nil {
			return fmt.Errorf("Include %s: %w", a, err)
		}
		for _, m := range matches {
			if err := p.parseConfigFile(m, base, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// match evaluates a Match line. Supported criteria: all, canonical, final
// (both true: plan does no hostname canonicalization, so there is a single
// pass), host, originalhost, user, localuser, exec; each may be negated
// with "!".
func (p *configParser) match(args []string) (bool, error) {
	if len(args) == 0 {
		return false, fmt.Errorf("Match needs criteria")
	}
	result := true
	for i := 0; i < len(args); i++ {
		crit := strings.ToLower(args[i])
		neg := strings.HasPrefix(crit, "!")
		crit = strings.TrimPrefix(crit, "!")
		var ok bool
		switch crit {
		case "all", "canonical", "final":
			ok = true
		case "host", "originalhost", "user", "localuser", "exec":
			if i+1 >= len(args) {
				return false, fmt.Errorf("Match %s needs an argument", crit)
			}
			i++
			arg := args[i]
			switch crit {
			case "host":
				ok = p.matchList(arg, p.currentHost())
			case "originalhost":
				ok = p.matchList(arg, p.originalHost)
			case "user":
				ok = p.matchList(arg, p.currentUser())
			case "localuser":
				ok = p.matchList(arg, p.localUser)
			case "exec":
				var err error
				if ok, err = p.exec(arg); err != nil {
					return false, fmt.Errorf("Match exec: %w", err)
				}
			}
		default:
			return false, fmt.Errorf("Match criterion %q is not supported", crit)
		}
		if ok == neg {
			result = false
		}
	}
	return result, nil
}

func (p *configParser) currentHost() string {
	if h := p.opts.get("hostname"); h != "" {
		return expandTokens(h, tokens{host: p.originalHost})
	}
	return p.originalHost
}

func (p *configParser) currentUser() string {
	if u := p.opts.get("user"); u != "" {
		return u
	}
	return p.localUser
}

// exec runs a Match exec command with /bin/sh, as ssh does with the user's
// shell; it is bounded so a hanging command cannot stall resolution.
func (p *configParser) exec(cmd string) (bool, error) {
	cmd, err := expandShellTokens(cmd, tokens{host: p.currentHost(), original: p.originalHost,
		remoteUser: p.currentUser(), localUser: p.localUser, home: p.home, port: p.opts.get("port")})
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Env = hosts.ChildEnv()
	return c.Run() == nil, nil
}

// matchHostPatterns is Host's rule: any positive pattern matches and no
// negated one does.
func (p *configParser) matchHostPatterns(patterns []string, host string) bool {
	matched := false
	for _, pat := range patterns {
		if neg := strings.HasPrefix(pat, "!"); neg {
			if globMatch(pat[1:], host) {
				return false
			}
			continue
		}
		if globMatch(pat, host) {
			matched = true
		}
	}
	return matched
}

func (p *configParser) matchList(list, s string) bool {
	return p.matchHostPatterns(strings.Split(list, ","), s)
}

// globMatch implements ssh's wildcards: * and ?, case-insensitive.
func globMatch(pat, s string) bool {
	pat, s = strings.ToLower(pat), strings.ToLower(s)
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if globMatch(pat[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pat[0] {
				return false
			}
		}
		pat, s = pat[1:], s[1:]
	}
	return s == ""
}

// splitConfigLine splits "Key value..." or "Key=value", honouring double
// quotes and # comments. The key is lower-cased.
func splitConfigLine(line string) (string, []string, error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", nil, nil
	}
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (c == ' ' || c == '\t' || (c == '=' && len(words) == 0)):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case !quoted && c == '#' && !inWord:
			i = len(line)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return "", nil, fmt.Errorf("unbalanced quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return "", nil, nil
	}
	return strings.ToLower(words[0]), words[1:], nil
}

// tokens are the values for ssh_config's %-tokens.
type tokens struct {
	host, original, remoteUser, localUser, home, port string
}

func expandTokens(s string, t tokens) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'h':
			b.WriteString(t.host)
		case 'n':
			b.WriteString(t.original)
		case 'r':
			b.WriteString(t.remoteUser)
		case 'u':
			b.WriteString(t.localUser)
		case 'd':
			b.WriteString(t.home)
		case 'p':
			b.WriteString(t.port)
		default:
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func expandTilde(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}
