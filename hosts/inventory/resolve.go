package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/plan-dev/plan/hosts"
)

// Resolver turns Specs into Endpoints through ssh_config and Vagrant.
// The zero value uses `ssh -G` when an OpenSSH client is on PATH (the most
// faithful: it is OpenSSH's own evaluation of Include, Match, tokens...) and
// the built-in parser otherwise.
type Resolver struct {
	// ConfigFile replaces ~/.ssh/config and /etc/ssh/ssh_config, like
	// `ssh -F` ("" = the defaults).
	ConfigFile string
	// SSHPath is the OpenSSH client used for `ssh -G`; "" looks up "ssh"
	// on PATH; NoSSHClient forces the built-in parser.
	SSHPath string
	// Home is the user's home directory ("" = os.UserHomeDir).
	Home string
	// VagrantPath is the vagrant binary ("" = "vagrant" on PATH);
	// VagrantDir is where it runs ("" = the current directory).
	VagrantPath string
	VagrantDir  string
}

// NoSSHClient as Resolver.SSHPath disables `ssh -G`.
const NoSSHClient = "-"

// errNoDashG means the ssh client does not know -G.
var errNoDashG = errors.New("ssh client has no -G")

// Resolve resolves every spec, in order. Vagrant machines ("vagrant:NAME")
// are asked for with one `vagrant ssh-config` call.
func (r *Resolver) Resolve(ctx context.Context, specs []Spec) ([]*hosts.Endpoint, error) {
	out := make([]*hosts.Endpoint, len(specs))
	var vagrantNames []string
	for _, s := range specs {
		if err := checkSpec(s); err != nil {
			return nil, fmt.Errorf("resolve host %q: %w", s.Name, err)
		}
		if name, ok := strings.CutPrefix(s.Name, VagrantPrefix); ok {
			vagrantNames = append(vagrantNames, name)
		}
	}
	var vagrant map[string]sshOptions
	if len(vagrantNames) > 0 {
		var err error
		if vagrant, err = r.vagrantSSHConfig(ctx, vagrantNames); err != nil {
			return nil, err
		}
	}
	// One `ssh -G` per host: run several at once (in sequence they took
	// ~2.5 s for 64 hosts on a loaded machine, before anything could run).
	// Every host that cannot be resolved is reported, not just the first:
	// a user fixing an inventory sees all of it at once.
	var g multierror.Group
	sem := make(chan struct{}, resolveParallel)
	for i, s := range specs {
		g.Go(func() error {
			sem <- struct{}{}
			defer func() { <-sem }()
			var err error
			if name, ok := strings.CutPrefix(s.Name, VagrantPrefix); ok {
				opts, found := vagrant[name]
				if !found {
					return indexedError{i, fmt.Errorf("vagrant ssh-config gave nothing for machine %q", name)}
				}
				out[i], err = r.endpointFrom(ctx, s, applyOverrides(opts, s), "vagrant", 0)
			} else {
				out[i], err = r.resolveOne(ctx, s, 0)
			}
			if err != nil {
				return indexedError{i, err}
			}
			return nil
		})
	}
	if merr := g.Wait(); merr.ErrorOrNil() != nil {
		// In the specs' order, whatever order they failed in.
		sort.Slice(merr.Errors, func(a, b int) bool {
			return merr.Errors[a].(indexedError).i < merr.Errors[b].(indexedError).i
		})
		if len(merr.Errors) == 1 {
			return nil, merr.Errors[0]
		}
		merr.ErrorFormat = listErrors
		return nil, merr
	}
	return out, nil
}

// indexedError is one host's resolve error and the host's place in the
// specs; it reads (and unwraps) as the error alone.
type indexedError struct {
	i   int
	err error
}

func (e indexedError) Error() string { return e.err.Error() }
func (e indexedError) Unwrap() error { return e.err }

// listErrors formats several hosts' errors one a line.
func listErrors(errs []error) string {
	lines := make([]string, len(errs))
	for i, err := range errs {
		lines[i] = "  " + err.Error()
	}
	return fmt.Sprintf("%d hosts cannot be resolved:\n%s", len(errs), strings.Join(lines, "\n"))
}

// resolveParallel bounds the hosts resolved at once.
const resolveParallel = 16

func (r *Resolver) resolveOne(ctx context.Context, s Spec, depth int) (*hosts.Endpoint, error) {
	if s.Name == "" {
		return nil, fmt.Errorf("resolve host %q: bad name", s.Name)
	}
	if err := checkSpec(s); err != nil {
		return nil, fmt.Errorf("resolve host %q: %w", s.Name, err)
	}
	if depth > hosts.MaxJumpDepth {
		return nil, fmt.Errorf("resolve host %s: ProxyJump chain longer than %d hops", s.Name, hosts.MaxJumpDepth)
	}
	opts, source, err := r.options(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("resolve host %s: %w", s.Name, err)
	}
	return r.endpointFrom(ctx, s, opts, source, depth)
}

// options evaluates ssh_config for s, with s's explicit fields overriding.
func (r *Resolver) options(ctx context.Context, s Spec) (sshOptions, string, error) {
	if ssh := r.sshClient(); ssh != "" {
		opts, err := r.sshG(ctx, ssh, s)
		if !errors.Is(err, errNoDashG) {
			return opts, "ssh -G", err
		}
		// An OpenSSH older than 6.8 (or another client): use the parser.
	}
	p := &configParser{originalHost: s.Name, localUser: hosts.LocalUserName(), home: r.home(), opts: applyOverrides(sshOptions{}, s)}
	if r.ConfigFile != "" {
		// OpenSSH reads a -F file as the user's: relative Includes are
		// under ~/.ssh.
		if err := p.parseConfigFile(r.ConfigFile, filepath.Join(p.home, ".ssh"), true); err != nil {
			return nil, "", err
		}
	} else {
		sshDir := filepath.Join(p.home, ".ssh")
		if err := p.parseConfigFile(filepath.Join(sshDir, "config"), sshDir, false); err != nil {
			return nil, "", err
		}
		if err := p.parseConfigFile("/etc/ssh/ssh_config", "/etc/ssh", false); err != nil {
			return nil, "", err
		}
	}
	return p.opts, "ssh_config", nil
}

// applyOverrides sets the fields the plan or -H gave; with first-value-wins
// they beat any ssh_config line, like ssh's command-line options.
func applyOverrides(o sshOptions, s Spec) sshOptions {
	c := sshOptions{}
	if s.Address != "" {
		c["hostname"] = []string{s.Address}
	}
	if s.User != "" {
		c["user"] = []string{s.User}
	}
	if s.Port != 0 {
		c["port"] = []string{strconv.Itoa(s.Port)}
	}
	for k, v := range o {
		if _, set := c[k]; !set {
			c[k] = v
		}
	}
	return c
}

func (r *Resolver) sshClient() string {
	switch r.SSHPath {
	case NoSSHClient:
		return ""
	case "":
		p, err := exec.LookPath("ssh")
		if err != nil {
			return ""
		}
		return p
	default:
		return r.SSHPath
	}
}

func (r *Resolver) home() string {
	if r.Home != "" {
		return r.Home
	}
	h, _ := os.UserHomeDir()
	return h
}

// sshG asks OpenSSH for its evaluation of the configuration.
func (r *Resolver) sshG(ctx context.Context, ssh string, s Spec) (sshOptions, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	args := []string{"-G"}
	if r.ConfigFile != "" {
		args = append(args, "-F", r.ConfigFile)
	}
	if s.Address != "" {
		args = append(args, "-o", "HostName="+s.Address)
	}
	if s.Port != 0 {
		args = append(args, "-p", strconv.Itoa(s.Port))
	}
	if s.User != "" {
		args = append(args, "-l", s.User)
	}
	args = append(args, s.Name)
	cmd := exec.CommandContext(ctx, ssh, args...)
	cmd.Env = hosts.ChildEnv()
	if r.Home != "" {
		cmd.Env = append(cmd.Env, "HOME="+r.Home)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := stderr.String(); strings.Contains(msg, "illegal option") || strings.Contains(msg, "unknown option") {
			return nil, errNoDashG
		}
		return nil, fmt.Errorf("ssh -G: %w: %s", err, firstLine(stderr.String()))
	}
	opts := sshOptions{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		switch k {
		case "userknownhostsfile", "globalknownhostsfile":
			opts[k] = strings.Fields(v)
		default:
			opts[k] = append(opts[k], v)
		}
	}
	return opts, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// endpointFrom applies OpenSSH's defaults and token expansion to opts.
func (r *Resolver) endpointFrom(ctx context.Context, s Spec, o sshOptions, source string, depth int) (*hosts.Endpoint, error) {
	home := r.home()
	local := hosts.LocalUserName()
	name := strings.TrimPrefix(s.Name, VagrantPrefix)
	e := &hosts.Endpoint{Name: s.Name, Source: source, PasswordAuthentication: true, ServerAliveCountMax: 3}
	e.HostName = expandTokens(o.get("hostname"), tokens{host: name})
	if e.HostName == "" {
		e.HostName = name
	}
	e.User = o.get("user")
	if e.User == "" {
		e.User = local
	}
	// Whatever ssh_config says, a user or host name that could be read
	// as an option or by a shell is refused (see shellsafe.go).
	if err := checkName("user", e.User); err != nil {
		return nil, fmt.Errorf("resolve host %s: %w", s.Name, err)
	}
	if err := checkName("HostName", e.HostName); err != nil {
		return nil, fmt.Errorf("resolve host %s: %w", s.Name, err)
	}
	e.Port = 22
	if p := o.get("port"); p != "" {
		n, err := parsePort(p)
		if err != nil {
			return nil, fmt.Errorf("resolve host %s: %w", s.Name, err)
		}
		e.Port = n
	}
	tk := tokens{host: e.HostName, original: name, remoteUser: e.User, localUser: local, home: home, port: strconv.Itoa(e.Port)}
	expand := func(p string) string { return expandTilde(expandTokens(p, tk), home) }
	ids := o["identityfile"]
	if len(ids) == 0 {
		ids = hosts.DefaultIdentityFiles()
	}
	for _, f := range ids {
		e.IdentityFiles = append(e.IdentityFiles, expand(f))
	}
	for _, f := range o["certificatefile"] {
		e.CertificateFiles = append(e.CertificateFiles, expand(f))
	}
	e.IdentitiesOnly = isYes(o.get("identitiesonly"))
	if a := o.get("identityagent"); a != "" && a != "SSH_AUTH_SOCK" {
		e.IdentityAgent = expand(strings.TrimPrefix(a, "$"))
		if strings.HasPrefix(a, "$") {
			e.IdentityAgent = os.Getenv(a[1:])
		}
	}
	e.HostKeyAlias = o.get("hostkeyalias")
	e.CheckHostIP = isYes(o.get("checkhostip"))
	e.HashKnownHosts = isYes(o.get("hashknownhosts"))
	switch v := strings.ToLower(o.get("stricthostkeychecking")); v {
	case "", "yes", "true", "ask":
		e.StrictHostKeyChecking = hosts.HostKeyStrict
	case "accept-new":
		e.StrictHostKeyChecking = hosts.HostKeyAcceptNew
	case "no", "false", "off":
		e.StrictHostKeyChecking = hosts.HostKeyDangerousAcceptAny
	default:
		return nil, fmt.Errorf("resolve host %s: StrictHostKeyChecking %q not understood", s.Name, v)
	}
	khs := o["userknownhostsfile"]
	if len(khs) == 0 {
		khs = []string{"~/.ssh/known_hosts", "~/.ssh/known_hosts2"}
	}
	for _, f := range khs {
		e.UserKnownHostsFiles = append(e.UserKnownHostsFiles, expand(f))
	}
	gkhs := o["globalknownhostsfile"]
	if len(gkhs) == 0 {
		gkhs = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	}
	for _, f := range gkhs {
		e.GlobalKnownHostsFiles = append(e.GlobalKnownHostsFiles, expand(f))
	}
	if v := o.get("passwordauthentication"); v != "" {
		e.PasswordAuthentication = isYes(v)
	}
	var err error
	if e.ConnectTimeout, err = parseSeconds(o.get("connecttimeout")); err != nil {
		return nil, fmt.Errorf("resolve host %s: ConnectTimeout: %w", s.Name, err)
	}
	if e.ServerAliveInterval, err = parseSeconds(o.get("serveraliveinterval")); err != nil {
		return nil, fmt.Errorf("resolve host %s: ServerAliveInterval: %w", s.Name, err)
	}
	if v := o.get("serveralivecountmax"); v != "" {
		if e.ServerAliveCountMax, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("resolve host %s: ServerAliveCountMax %q", s.Name, v)
		}
	}
	if pj := o.get("proxyjump"); pj != "" && pj != "none" {
		e.ProxyJump = pj
		if e.Jump, err = r.resolveJumps(ctx, pj, depth); err != nil {
			return nil, fmt.Errorf("resolve host %s: ProxyJump %s: %w", s.Name, pj, err)
		}
	} else if pc := o.get("proxycommand"); pc != "" && pc != "none" {
		if e.ProxyCommand, err = expandShellTokens(pc, tk); err != nil {
			return nil, fmt.Errorf("resolve host %s: ProxyCommand: %w", s.Name, err)
		}
	}
	return e, nil
}

// resolveJumps resolves "a,b,c" as OpenSSH does: the last hop c is reached
// through "a,b" (overriding c's own ProxyJump), and the first hop a through
// its own configuration.
func (r *Resolver) resolveJumps(ctx context.Context, chain string, depth int) (*hosts.Endpoint, error) {
	hops := strings.Split(chain, ",")
	last := strings.TrimSpace(hops[len(hops)-1])
	last = strings.TrimPrefix(last, "ssh://")
	spec, err := ParseHostArg(last)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(spec.Name, VagrantPrefix) {
		return nil, errors.New("a Vagrant machine cannot be a jump host")
	}
	if len(hops) == 1 {
		return r.resolveOne(ctx, spec, depth+1)
	}
	opts, source, err := r.options(ctx, spec)
	if err != nil {
		return nil, err
	}
	opts["proxyjump"] = []string{strings.Join(hops[:len(hops)-1], ",")}
	return r.endpointFrom(ctx, spec, opts, source, depth+1)
}

func parseSeconds(v string) (time.Duration, error) {
	if v == "" || v == "none" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad seconds %q", v)
	}
	return time.Duration(n) * time.Second, nil
}

func isYes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true":
		return true
	}
	return false
}
