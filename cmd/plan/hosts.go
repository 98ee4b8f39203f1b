package main

// plan hosts: the resolved inventory (who the hosts are and how plan will
// reach them), optionally checked by connecting.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/executor"
	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/inventory"
)

func init() {
	register(&command{
		name:    "hosts",
		summary: "print the resolved inventory: address, user, port, key, jump (--check connects)",
		run:     runHosts,
	})
}

// hostRow is one host of `plan hosts`, also its JSON form.
type hostRow struct {
	Name           string   `json:"name"`
	Groups         []string `json:"groups"`
	User           string   `json:"user"`
	Address        string   `json:"address"`
	Port           int      `json:"port"`
	IdentityFiles  []string `json:"identity_files"`
	ProxyJump      string   `json:"proxy_jump,omitempty"`
	HostKeyPolicy  string   `json:"strict_host_key_checking"`
	KnownHostsFile []string `json:"known_hosts_files"`
	Source         string   `json:"source"`
	SSH            string   `json:"ssh"`
	Check          string   `json:"check,omitempty"`
	explicitKeys   bool     // not OpenSSH's default keys
}

func runHosts(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("hosts", stderr)
	var pa planArgs
	pa.addFlags(fl)
	sshConfig := fl.StringP("ssh-config", "F", "", "ssh_config file to use instead of ~/.ssh/config and /etc/ssh/ssh_config (like ssh -F)")
	output := fl.StringP("output", "o", "text", "output format: text or json")
	check := fl.Bool("check", false, "connect to every host (host key, auth) and probe sudo; exit 1 when one fails")
	acceptNew := fl.Bool("accept-new-host-keys", false, "with --check: record unknown host keys (changed keys are still refused)")
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "plan hosts: --output must be text or json, not %q\n", *output)
		return exitUsage
	}
	p := pa.load(fl.Args(), stderr)
	if p == nil {
		return exitUsage
	}
	planHosts := p.Hosts()
	specs := make([]inventory.Spec, len(planHosts))
	for i, h := range planHosts {
		specs[i] = hostSpec(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eps, err := (&inventory.Resolver{ConfigFile: *sshConfig}).Resolve(ctx, specs)
	if err != nil {
		fmt.Fprintf(stderr, "plan hosts: %v\n", err)
		return exitUsage
	}
	rows := make([]hostRow, len(eps))
	for i, ep := range eps {
		rows[i] = hostRow{Name: planHosts[i].Name, Groups: planHosts[i].Groups, User: ep.User, Address: ep.HostName,
			Port: ep.Port, IdentityFiles: ep.IdentityFiles, ProxyJump: ep.ProxyJump,
			HostKeyPolicy: string(ep.StrictHostKeyChecking), KnownHostsFile: ep.UserKnownHostsFiles,
			Source: ep.Source, SSH: ep.SSHCommand(""), explicitKeys: ep.ExplicitIdentity()}
		if rows[i].Groups == nil {
			rows[i].Groups = []string{}
		}
	}
	failed := false
	if *check {
		failed = checkHosts(ctx, eps, rows, *acceptNew)
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rows)
	} else {
		printHostTable(stdout, rows, *check)
	}
	if failed {
		return exitFailed
	}
	return exitOK
}

// hostSpec maps a plan host to what the resolver needs. A -H host whose
// address is just its name lets ssh_config say where that name points.
func hostSpec(h *dsl.Host) inventory.Spec {
	s := inventory.Spec{Name: h.Name, Address: h.Address, User: h.User, Port: h.Port}
	if s.Address == h.Name {
		s.Address = ""
	}
	return s
}

// checkHosts dials every host in parallel (no prompts: the environment is
// the only source of passwords) and probes sudo; it fills Check.
func checkHosts(ctx context.Context, eps []*hosts.Endpoint, rows []hostRow, acceptNew bool) bool {
	d := hosts.NewDialer(hosts.Options{AcceptNewHostKeys: acceptNew})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := false
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := checkOne(ctx, d, ep)
			mu.Lock()
			rows[i].Check = executor.NewRedactor(d.Secrets()...).String(res)
			failed = failed || !strings.HasPrefix(res, "ok")
			mu.Unlock()
		}()
	}
	wg.Wait()
	return failed
}

func checkOne(ctx context.Context, d *hosts.Dialer, ep *hosts.Endpoint) string {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	t, err := d.Dial(ctx, ep)
	if err != nil {
		return "FAILED: " + err.Error()
	}
	defer t.Close()
	err = t.Run(ctx, &hosts.Command{Cmd: "true", Sudo: true})
	switch {
	case err == nil:
		return "ok (sudo ok)"
	case errors.Is(err, hosts.ErrSudoPassword):
		return "ok (sudo: " + err.Error() + ")"
	default:
		var ee *hosts.ExitError
		if errors.As(err, &ee) {
			return "ok (no sudo: " + ee.StderrTail + ")"
		}
		return "FAILED: " + err.Error()
	}
}

func printHostTable(w io.Writer, rows []hostRow, check bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "HOST\tGROUPS\tDESTINATION\tKEY\tJUMP\tHOST KEYS\tFROM\n")
	for _, r := range rows {
		key := "default keys"
		if r.explicitKeys {
			key = strings.Join(r.IdentityFiles, ",")
		}
		jump := r.ProxyJump
		if jump == "" {
			jump = "-"
		}
		groups := strings.Join(r.Groups, ",")
		if groups == "" {
			groups = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s@%s:%d\t%s\t%s\t%s\t%s\n", r.Name, groups, r.User, r.Address, r.Port, key, jump, r.HostKeyPolicy, r.Source)
	}
	tw.Flush()
	if check {
		fmt.Fprintln(w)
		for _, r := range rows {
			fmt.Fprintf(w, "%s: %s\n", r.Name, r.Check)
		}
	}
}
