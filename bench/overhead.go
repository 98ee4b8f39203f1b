package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/plan-dev/plan/integration/lab"
)

// floorStep is one of W1's 20 steps for the OpenSSH floor: a command, or a
// small file sent on stdin to `cat > DEST`. They are the steps of
// bench/plans/w1/w1.hcl and bench/ansible/w1.yml.
type floorStep struct {
	cmd  string
	file string // local file for a push
}

func w1Steps(root string) []floorStep {
	var steps []floorStep
	f := 0
	for i := 1; i <= 20; i++ {
		switch {
		case i%4 == 0:
			f++
			steps = append(steps, floorStep{
				cmd:  fmt.Sprintf("cat > /tmp/bench/f%d.txt", f),
				file: filepath.Join(root, "bench", "plans", "w1", "files", fmt.Sprintf("f%d.txt", f)),
			})
		case i == 1:
			steps = append(steps, floorStep{cmd: "mkdir -p /tmp/bench && echo t01 >> /tmp/bench/log"})
		default:
			steps = append(steps, floorStep{cmd: fmt.Sprintf("echo t%02d >> /tmp/bench/log", i)})
		}
	}
	return steps
}

// w1Check is what every tool must leave on every host.
const w1Check = `test "$(wc -l < /tmp/bench/log)" = 15 && for i in 1 2 3 4 5; do test "$(wc -c < /tmp/bench/f$i.txt)" = 3904 || exit 1; done`

// tool is one measured command of a workload.
type tool struct {
	name string
	run  func(ctx context.Context) (sample, error)
}

// planW1 runs the W1 plan as a user would the first time: a fresh run state
// (written after every node) and per-node logs.
func (b *bench) planW1(hosts []*lab.Host, extraEnv ...string) func(ctx context.Context) (sample, error) {
	return func(ctx context.Context) (sample, error) {
		logDir, err := os.MkdirTemp(b.cfg.out, "logs-")
		if err != nil {
			return sample{}, err
		}
		defer os.RemoveAll(logDir)
		cmd := exec.CommandContext(ctx, b.cfg.planBin, "run", filepath.Join(b.cfg.root, "bench", "plans", "w1"),
			"--state", filepath.Join(logDir, "state.json"), "--output", "json", "--log-dir", logDir,
			"-F", b.sshConfig, "-H", "all="+aliases(hosts))
		cmd.Dir = b.cfg.out
		cmd.Env = append(os.Environ(), extraEnv...)
		s, out, err := runCmd(ctx, cmd)
		if err != nil {
			return s, fmt.Errorf("plan run: %v\n%s", err, tail(out, 5))
		}
		return s, nil
	}
}

func (b *bench) floorW1(hosts []*lab.Host) func(ctx context.Context) (sample, error) {
	steps := w1Steps(b.cfg.root)
	return func(ctx context.Context) (sample, error) {
		control, err := os.MkdirTemp("", "bench-cm-")
		if err != nil {
			return sample{}, err
		}
		defer closeMasters(control)
		return onEachHost(ctx, hosts, func(h *lab.Host, run func(*exec.Cmd) ([]byte, error)) error {
			for _, st := range steps {
				cmd := exec.CommandContext(ctx, "ssh", append(b.sshBase(control), h.Alias, st.cmd)...)
				if st.file != "" {
					f, err := os.Open(st.file)
					if err != nil {
						return err
					}
					defer f.Close()
					cmd.Stdin = f
				}
				if out, err := run(cmd); err != nil {
					return fmt.Errorf("ssh %s %q: %v: %s", h.Alias, st.cmd, err, tail(out, 3))
				}
			}
			return nil
		})
	}
}

// ansibleW1 runs bench/ansible/w1.yml with forks = hosts, pipelining on and
// no fact gathering, through the same ssh_config.
func (b *bench) ansibleW1(hosts []*lab.Host) func(ctx context.Context) (sample, error) {
	return func(ctx context.Context) (sample, error) {
		dir, err := os.MkdirTemp(b.cfg.out, "ansible-")
		if err != nil {
			return sample{}, err
		}
		defer os.RemoveAll(dir)
		control, err := os.MkdirTemp("", "bench-acm-")
		if err != nil {
			return sample{}, err
		}
		defer closeMasters(control)
		var inv strings.Builder
		inv.WriteString("[all]\n")
		for _, h := range hosts {
			inv.WriteString(h.Alias + "\n")
		}
		cfgText := fmt.Sprintf(`[defaults]
inventory = %s
forks = %d
strategy = %s
gathering = explicit
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
local_tmp = %s
nocows = 1

[ssh_connection]
pipelining = True
ssh_args = -F %s -o ControlMaster=auto -o ControlPersist=60s
control_path_dir = %s
`, filepath.Join(dir, "inventory"), len(hosts), ansibleStrategy, filepath.Join(dir, "tmp"), b.sshConfig, control)
		if err := os.WriteFile(filepath.Join(dir, "inventory"), []byte(inv.String()), 0o644); err != nil {
			return sample{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, "ansible.cfg"), []byte(cfgText), 0o644); err != nil {
			return sample{}, err
		}
		cmd := exec.CommandContext(ctx, b.cfg.ansibleBin, filepath.Join(b.cfg.root, "bench", "ansible", "w1.yml"))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"), "ANSIBLE_HOME="+filepath.Join(dir, "home"))
		s, out, err := runCmd(ctx, cmd)
		if err != nil {
			return s, fmt.Errorf("ansible-playbook: %v\n%s", err, tail(out, 15))
		}
		return s, nil
	}
}

// ansibleStrategy: "free" lets every host go through its tasks at its own
// pace, as plan's per-host chains do; it is Ansible's fastest setting here.
var ansibleStrategy = envOr("BENCH_ANSIBLE_STRATEGY", "free")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// overhead measures W1 (8 hosts: plan, OpenSSH floor, Ansible) and W3
// (64 hosts: plan, OpenSSH floor), interleaved.
func (b *bench) overhead(ctx context.Context) error {
	small := b.lab.Hosts[:b.cfg.small]
	b.rep.W1Hosts = len(small)
	if b.cfg.only["w3"] {
		b.rep.W3Hosts = b.cfg.large
	}
	var tools []tool
	var groups [][]*lab.Host
	add := func(name string, hosts []*lab.Host, f func(context.Context) (sample, error)) {
		tools = append(tools, tool{name, f})
		groups = append(groups, hosts)
	}
	if b.cfg.only["w1"] || b.cfg.only["w3"] {
		add("w1/plan", small, b.planW1(small))
	}
	if b.cfg.only["w1"] {
		add("w1/openssh", small, b.floorW1(small))
		if b.cfg.ansible {
			add("w1/ansible", small, b.ansibleW1(small))
		}
	}
	if b.cfg.only["w3"] {
		large := b.lab.Hosts[:b.cfg.large]
		add("w3/plan", large, b.planW1(large))
		add("w3/openssh", large, b.floorW1(large))
	}
	if !b.rep.Link.IsZero() && b.cfg.baseline && b.cfg.only["w1"] {
		// The same tools on the same hosts without the link: what the
		// link adds, divided by the RTT, is the round trips they waited.
		direct, err := b.direct()
		if err != nil {
			return err
		}
		add("w1-0/plan", small, direct.planW1(small))
		add("w1-0/openssh", small, direct.floorW1(small))
	}
	idx := make([]int, len(tools))
	for i := range idx {
		idx[i] = i
	}
	for r := 0; r < b.cfg.reps; r++ {
		for _, i := range rotate(idx, r) {
			t, hosts := tools[i], groups[i]
			if err := b.onHosts(ctx, hosts, "rm -rf /tmp/bench"); err != nil {
				return err
			}
			before := b.linkCounts(hosts)
			s, err := t.run(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			after := b.linkCounts(hosts)
			s.Flights, s.Conns = after.Flights-before.Flights, after.Conns-before.Conns
			if err := b.onHosts(ctx, hosts, w1Check); err != nil {
				return fmt.Errorf("%s left a host wrong: %w", t.name, err)
			}
			logf("rep %d/%d %-12s %7.2fs  cpu %6.2fs  rss %5.1f MiB  turns/host %.1f  conns/host %.1f", r+1, b.cfg.reps, t.name, s.Wall.Seconds(), s.CPU.Seconds(), rssMiB(s),
				float64(s.Flights)/float64(len(hosts)), float64(s.Conns)/float64(len(hosts)))
			b.rep.add(t.name, s)
		}
	}
	return nil
}
