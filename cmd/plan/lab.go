package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/plan-dev/plan/integration/lab"
)

func init() {
	register(&command{
		name:    "lab",
		summary: "local test hosts (netns + sshd, optionally systemd): up, down, status, ssh-config",
		run:     runLab,
	})
}

const labUsage = `usage: plan lab up [N] [--systemd] [--name NAME]   bring up N hosts (default 3)
              [--latency D] [--jitter D] [--bandwidth RATE]
                                                    shape the path to each host (a proxy per host)
       plan lab down [--name NAME | --all]          tear a lab down
       plan lab status                              list labs and whether their hosts answer
       plan lab hosts [--name NAME]                 print the lab's ssh host names, one a line
       plan lab ssh-config [--name NAME] [--install]
                                                    print the lab's ssh_config (for ssh -F), or
                                                    add an Include of every lab's to ~/.ssh/config
       plan lab prepare                             build the cached rootfs now (else the first up does)

Labs need root. Details: docs/lab.md.
`

func runLab(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, labUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "up":
		return labUp(rest, stdout, stderr)
	case "down":
		return labDown(rest, stdout, stderr)
	case "status":
		return labStatus(rest, stdout, stderr)
	case "ssh-config":
		return labSSHConfig(rest, stdout, stderr)
	case "hosts":
		return labHosts(rest, stdout, stderr)
	case "prepare":
		return labPrepare(rest, stdout, stderr)
	case "serve-links":
		return labServeLinks(rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "plan lab: unknown subcommand %q\n\n%s", sub, labUsage)
	return exitUsage
}

// labFlags parses a subcommand's flags; done is set when --help was asked.
func labFlags(name string, args []string, stderr io.Writer, define func(*pflag.FlagSet)) (fs *pflag.FlagSet, code int, done bool) {
	fs = pflag.NewFlagSet("plan lab "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return fs, exitOK, true
		}
		fmt.Fprintf(stderr, "plan lab %s: %v\n", name, err)
		return fs, exitUsage, true
	}
	return fs, 0, false
}

// findLab returns the registered lab with the given name.
func findLab(name string) (*lab.Lab, error) {
	labs, err := lab.List()
	if err != nil {
		return nil, err
	}
	for _, l := range labs {
		if l.Name == name {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no lab named %q (plan lab status lists them; plan lab up makes one)", name)
}

func needRoot(stderr io.Writer, what string) bool {
	if os.Geteuid() != 0 {
		fmt.Fprintf(stderr, "plan lab %s: needs root (network namespaces, mounts)\n", what)
		return false
	}
	return true
}

func labUp(args []string, stdout, stderr io.Writer) int {
	var systemd, oracleLike bool
	var name, user string
	var profile lab.HostProfile
	var timeout time.Duration
	var link lab.LinkShape
	var bandwidth string
	fs, code, done := labFlags("up", args, stderr, func(fs *pflag.FlagSet) {
		fs.BoolVar(&systemd, "systemd", false, "boot each host with systemd-nspawn (systemd as PID 1); default: sshd only")
		fs.StringVar(&user, "user", lab.UserRoot, "login user of the lab's ssh_config: root, nopw (passwordless sudo) or plan (sudo asks for the lab's password)")
		fs.BoolVar(&oracleLike, "oracle-like", false, "hosts like Oracle Linux 9's: --ol-sudoers --firewalld --networkmanager (needs --systemd)")
		fs.BoolVar(&profile.OLSudoers, "ol-sudoers", false, "sudoers as Oracle Linux ships it: env_reset, secure_path without /usr/local/bin")
		fs.BoolVar(&profile.Firewalld, "firewalld", false, "run firewalld from boot (needs --systemd)")
		fs.BoolVar(&profile.NetworkManager, "networkmanager", false, "run NetworkManager from boot, managing eth0 (needs --systemd)")
		fs.StringVar(&name, "name", "default", "the lab's name, for down/status/ssh-config")
		fs.DurationVar(&timeout, "timeout", 20*time.Minute, "bound on the whole bring-up, including a first rootfs build")
		fs.DurationVar(&link.Latency, "latency", 0, "one-way delay added in each direction between clients and every host (RTT = 2×); whole milliseconds, e.g. 15ms")
		fs.DurationVar(&link.Jitter, "jitter", 0, "± variation of --latency per chunk of data, e.g. 2ms (less than --latency)")
		fs.StringVar(&bandwidth, "bandwidth", "", "cap on each direction between clients and every host, e.g. 1gbit, 100mbit, 50mbps (bytes/s)")
	})
	if done {
		return code
	}
	if bandwidth != "" {
		bps, err := lab.ParseBandwidth(bandwidth)
		if err != nil {
			fmt.Fprintf(stderr, "plan lab up: --bandwidth: %v\n", err)
			return exitUsage
		}
		link.Bandwidth = bps
	}
	if err := link.Validate(); err != nil {
		fmt.Fprintf(stderr, "plan lab up: %v\n", err)
		return exitUsage
	}
	var helper []string
	if !link.IsZero() {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "plan lab up: the link helper runs this program again: %v\n", err)
			return exitFailed
		}
		helper = []string{exe, "lab", "serve-links"}
	}
	n := 3
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "plan lab up: one host count at most\n%s", labUsage)
		return exitUsage
	}
	if fs.NArg() == 1 {
		v, err := strconv.Atoi(fs.Arg(0))
		if err != nil || v < 1 || v > lab.MaxHosts {
			fmt.Fprintf(stderr, "plan lab up: host count must be 1..%d, got %q\n", lab.MaxHosts, fs.Arg(0))
			return exitUsage
		}
		n = v
	}
	if oracleLike {
		profile = lab.OracleLinuxLike()
	}
	if (profile.Firewalld || profile.NetworkManager) && !systemd {
		fmt.Fprintf(stderr, "plan lab up: --firewalld, --networkmanager and --oracle-like need --systemd (they run as systemd units)\n")
		return exitUsage
	}
	switch user {
	case lab.UserRoot, lab.UserNopw, lab.UserPlan:
	default:
		fmt.Fprintf(stderr, "plan lab up: --user must be %s, %s or %s, got %q\n", lab.UserRoot, lab.UserNopw, lab.UserPlan, user)
		return exitUsage
	}
	if !needRoot(stderr, "up") {
		return exitFailed
	}
	if existing, err := findLab(name); err == nil {
		fmt.Fprintf(stderr, "plan lab up: a lab named %q is already up (id %d); `plan lab down --name %s` first, or pick another --name\n", name, existing.ID, name)
		return exitFailed
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	l, err := lab.Up(ctx, lab.Options{
		Hosts: n, Systemd: systemd, Name: name, Persistent: true, User: user, Host: profile,
		Link: link, LinkHelper: helper,
		Logf: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "plan lab up: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "lab %q (id %d, %s) up in %s:\n", l.Name, l.ID, variantName(l), time.Since(start).Round(10*time.Millisecond))
	printHosts(stdout, l, false)
	if !l.Link.IsZero() {
		fmt.Fprintf(stdout, "links: %s, through proxies served by process %d (log %s/links.log)\n", l.Link, l.LinkProc.PID, l.Dir)
	}
	fmt.Fprintf(stdout, "\nssh -F %s %s\n", l.SSHConfig, l.Hosts[0].Alias)
	fmt.Fprintf(stdout, "plan lab ssh-config --name %s   # how to reach it from plan run -H\n", l.Name)
	fmt.Fprintf(stdout, "plan lab down --name %s\n", l.Name)
	return exitOK
}

func labDown(args []string, stdout, stderr io.Writer) int {
	var name string
	var all bool
	_, code, done := labFlags("down", args, stderr, func(fs *pflag.FlagSet) {
		fs.StringVar(&name, "name", "default", "the lab to tear down")
		fs.BoolVar(&all, "all", false, "tear down every lab on this machine, test labs included")
	})
	if done {
		return code
	}
	if !needRoot(stderr, "down") {
		return exitFailed
	}
	var targets []*lab.Lab
	if all {
		labs, err := lab.List()
		if err != nil {
			fmt.Fprintf(stderr, "plan lab down: %v\n", err)
			return exitFailed
		}
		targets = labs
	} else {
		l, err := findLab(name)
		if err != nil {
			fmt.Fprintf(stderr, "plan lab down: %v\n", err)
			return exitFailed
		}
		targets = []*lab.Lab{l}
	}
	status := exitOK
	for _, l := range targets {
		start := time.Now()
		if err := l.Close(); err != nil {
			fmt.Fprintf(stderr, "plan lab down: lab %q (id %d): %v\n", l.Name, l.ID, err)
			status = exitFailed
			continue
		}
		fmt.Fprintf(stdout, "lab %q (id %d) down in %s\n", l.Name, l.ID, time.Since(start).Round(10*time.Millisecond))
	}
	return status
}

func labStatus(args []string, stdout, stderr io.Writer) int {
	_, code, done := labFlags("status", args, stderr, func(*pflag.FlagSet) {})
	if done {
		return code
	}
	labs, err := lab.List()
	if err != nil {
		fmt.Fprintf(stderr, "plan lab status: %v\n", err)
		return exitFailed
	}
	if len(labs) == 0 {
		fmt.Fprintln(stdout, "no labs")
		return exitOK
	}
	for i, l := range labs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		kind := "persistent"
		if !l.Persistent {
			kind = fmt.Sprintf("owned by pid %d", l.Owner.PID)
			if !l.Owner.Alive() {
				kind += " (gone: stale, the next lab up reclaims it)"
			}
		}
		fmt.Fprintf(stdout, "lab %q id %d, %s, %s, dir %s\n", l.Name, l.ID, variantName(l), kind, l.Dir)
		if !l.Link.IsZero() {
			state := "running"
			if l.Persistent && !l.LinkProc.Alive() {
				state = "GONE: the hosts are unreachable through the ssh_config"
			}
			fmt.Fprintf(stdout, "links: %s; proxies' process %d %s\n", l.Link, l.LinkProc.PID, state)
		}
		printHosts(stdout, l, true)
	}
	return exitOK
}

func labSSHConfig(args []string, stdout, stderr io.Writer) int {
	var name string
	var install bool
	_, code, done := labFlags("ssh-config", args, stderr, func(fs *pflag.FlagSet) {
		fs.StringVar(&name, "name", "default", "the lab")
		fs.BoolVar(&install, "install", false, "add 'Include DATA/lab*/ssh_config' to the top of ~/.ssh/config (once), so ssh and plan run -H reach every lab host by name")
	})
	if done {
		return code
	}
	if install {
		path, added, err := lab.InstallSSHInclude()
		if err != nil {
			fmt.Fprintf(stderr, "plan lab ssh-config: %v\n", err)
			return exitFailed
		}
		if added {
			fmt.Fprintf(stdout, "added an Include of every lab's ssh_config to %s\n", path)
		} else {
			fmt.Fprintf(stdout, "%s already includes every lab's ssh_config\n", path)
		}
		return exitOK
	}
	l, err := findLab(name)
	if err != nil {
		fmt.Fprintf(stderr, "plan lab ssh-config: %v\n", err)
		return exitFailed
	}
	cfg, err := os.ReadFile(l.SSHConfig)
	if err != nil {
		fmt.Fprintf(stderr, "plan lab ssh-config: %v\n", err)
		return exitFailed
	}
	aliases := make([]string, 0, len(l.Hosts))
	for _, h := range l.Hosts {
		aliases = append(aliases, h.Alias)
	}
	fmt.Fprintf(stdout, "# ssh_config:  %s\n# known_hosts: %s\n# client key:  %s\n", l.SSHConfig, l.KnownHosts, l.ClientKey)
	fmt.Fprintf(stdout, "# users: root (key), plan (key; sudo password in %s), nopw (passwordless sudo)\n", l.PasswordFile)
	fmt.Fprintf(stdout, "# use:   ssh -F %s %s\n", l.SSHConfig, aliases[0])
	fmt.Fprintf(stdout, "#        plan run PLAN -F %s -H %s\n", l.SSHConfig, strings.Join(aliases, ","))
	fmt.Fprintf(stdout, "#        (or `plan lab ssh-config --install` once, then without -F)\n")
	_, _ = stdout.Write(cfg)
	return exitOK
}

func variantName(l *lab.Lab) string {
	v := "light"
	if l.Systemd {
		v = "systemd"
	}
	user := l.User
	if user == "" {
		user = lab.UserRoot
	}
	return fmt.Sprintf("%s, hosts %s, login %s", v, l.Profile, user)
}

// printHosts lists a lab's hosts; with probe, whether each one's process
// runs and its sshd answers.
func printHosts(w io.Writer, l *lab.Lab, probe bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, h := range l.Hosts {
		line := fmt.Sprintf("  %s\t%s\t%s\tnetns %s", h.Alias, h.Name, h.Address, h.Netns)
		if probe {
			state := "down"
			switch {
			case !h.Proc.Alive():
				state = "down (host process gone)"
			case lab.SSHAnswers(h.Addr(), 2*time.Second):
				state = "ssh up"
			default:
				state = "ssh not answering"
			}
			line += "\t" + state
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

func labHosts(args []string, stdout, stderr io.Writer) int {
	var name string
	_, code, done := labFlags("hosts", args, stderr, func(fs *pflag.FlagSet) {
		fs.StringVar(&name, "name", "default", "the lab")
	})
	if done {
		return code
	}
	l, err := findLab(name)
	if err != nil {
		fmt.Fprintf(stderr, "plan lab hosts: %v\n", err)
		return exitFailed
	}
	for _, h := range l.Hosts {
		fmt.Fprintln(stdout, h.Alias)
	}
	return exitOK
}

func labPrepare(args []string, stdout, stderr io.Writer) int {
	var timeout time.Duration
	_, code, done := labFlags("prepare", args, stderr, func(fs *pflag.FlagSet) {
		fs.DurationVar(&timeout, "timeout", 30*time.Minute, "bound on the build")
	})
	if done {
		return code
	}
	if !needRoot(stderr, "prepare") {
		return exitFailed
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	base, err := lab.EnsureBase(ctx, lab.CacheDir(), func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) })
	if err != nil {
		fmt.Fprintf(stderr, "plan lab prepare: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "lab rootfs ready in %s: %s\n", time.Since(start).Round(time.Second), base)
	return exitOK
}

// labServeLinks is the link helper `plan lab up --latency ...` starts: it
// serves the lab's proxies until `plan lab down` kills it (or the lab is
// gone). Not for users; docs/lab.md describes it.
func labServeLinks(args []string, stdout, stderr io.Writer) int {
	fs, code, done := labFlags("serve-links", args, stderr, func(*pflag.FlagSet) {})
	if done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "plan lab serve-links: want the lab's directory (plan lab up starts this itself)\n")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := lab.ServeLinks(ctx, fs.Arg(0)); err != nil {
		fmt.Fprintf(stderr, "plan lab serve-links: %v\n", err)
		return exitFailed
	}
	return exitOK
}
