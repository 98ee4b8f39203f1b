package builtinplans_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	builtinplans "github.com/plan-dev/plan/builtin-plans"
	"github.com/plan-dev/plan/dsl"
)

// installedTools are the programs the scratch plan puts into /usr/local/bin or
// /usr/local/sbin. On Oracle Linux and RHEL, sudoers' secure_path is
// /sbin:/bin:/usr/sbin:/usr/bin: a command run with sudo that names one of
// them bare is "not found" there (while Debian's secure_path hides the bug).
var installedTools = []string{
	"kubectl", "etcdctl", "etcd", "ctr", "crictl", "runc", "containerd", "containerd-shim-runc-v2",
	"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
}

// commandSplit cuts shell text where a new simple command can begin.
// ")" is not one: it ends a case label ("etcd)"), which is no command.
var commandSplit = regexp.MustCompile(`\$\(|\x60|&&|\|\||[;&|(\n{}]`)

// quoted matches a quoted string on one line: its words are data, not commands.
var quoted = regexp.MustCompile(`"[^"]*"|'[^']*'`)

// leadingWords are shell words after which the next word is still in command position.
var leadingWords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "do": true, "while": true, "until": true,
	"!": true, "exec": true, "time": true, "nice": true, "nohup": true, "xargs": true, "env": true, "sudo": true,
	"command": true, "-n": true, "--": true,
}

// bareCommands returns the installed tools that body runs by bare name.
func bareCommands(body string) []string {
	tools := map[string]bool{}
	for _, t := range installedTools {
		tools[t] = true
	}
	found := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		line = quoted.ReplaceAllString(line, "Q")
		for _, part := range commandSplit.Split(line, -1) {
			words := strings.Fields(part)
			for len(words) > 0 {
				w := words[0]
				switch {
				case leadingWords[w]:
					words = words[1:]
					continue
				case w == "timeout" && len(words) > 1:
					words = words[2:]
					continue
				case strings.Contains(w, "=") && !strings.HasPrefix(w, "="): // VAR=value prefix
					words = words[1:]
					continue
				}
				break
			}
			if len(words) > 0 && tools[words[0]] {
				found[words[0]] = true
			}
		}
	}
	var out []string
	for t := range found {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func TestBareCommandsFinder(t *testing.T) {
	for body, want := range map[string]string{
		"kubectl get nodes":                                  "kubectl",
		"x=$(etcdctl member list | wc -l)":                   "etcdctl",
		"until ctr version >/dev/null; do sleep 1; done":     "ctr",
		"KUBECONFIG=/x kubectl apply -f y":                   "kubectl",
		"timeout 5 crictl ps":                                "crictl",
		"/usr/local/bin/kubectl get nodes":                   "",
		"systemctl restart kubelet kube-proxy":               "",
		"echo 'kubectl on a master' # kubectl":               "",
		"# kubectl get nodes":                                "",
		"test -x /usr/local/bin/ctr && /usr/local/bin/ctr x": "",
		"case $c in etcd) x ;; esac":                         "",
		`units="kubelet kube-proxy"`:                         "",
	} {
		if got := strings.Join(bareCommands(body), ","); got != want {
			t.Errorf("bareCommands(%q) = %q, want %q", body, got, want)
		}
	}
}

// TestNoBareInstalledToolsUnderSudo checks that nothing the built-in plans run (commands,
// scripts, guards, and the shell templates pushed as files and run later) calls a tool the
// plan installs into /usr/local by bare name: issue #12, the plan failed half way on
// Oracle Linux for a sudo user because sudo's PATH there has no /usr/local/bin.
func TestNoBareInstalledToolsUnderSudo(t *testing.T) {
	bodies := map[string]string{}
	for _, tp := range topologies {
		for k, v := range shellBodies(render(t, "scratch", tp.hosts, tp.vars)) {
			bodies[tp.name+" "+k] = v
		}
	}
	for k, v := range shellBodies(render(t, "scratch-reset", []string{"masters=cp1", "workers=w1"}, nil)) {
		bodies["reset "+k] = v
	}
	// docs/examples/addons.hcl is what users copy to extend the plan.
	for k, v := range shellBodies(renderWith(t, []string{"scratch", filepath.Join("..", "docs", "examples", "addons.hcl")}, []string{"masters=cp1", "workers=w1"})) {
		bodies["addons.hcl "+k] = v
	}
	files, _ := filepath.Glob(filepath.Join("*", "templates", "*.sh"))
	if len(files) < 5 {
		t.Fatalf("found %d shell templates; has the layout changed?", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies[f] = string(b)
	}
	for name, body := range bodies {
		if bare := bareCommands(body); len(bare) > 0 {
			t.Errorf("%s runs %s by bare name; sudo's secure_path on Oracle Linux has no /usr/local/bin: call /usr/local/bin/%s", name, strings.Join(bare, ", "), bare[0])
		}
	}
}

// renderWith renders plans (built-in names or files) together, as plan render does.
func renderWith(t *testing.T, plans, hostArgs []string) string {
	t.Helper()
	for i, p := range plans {
		if strings.Contains(p, string(filepath.Separator)) {
			abs, err := filepath.Abs(p)
			if err != nil {
				t.Fatal(err)
			}
			plans[i] = abs
		}
	}
	p, diags := dsl.Load(plans, dsl.Options{FS: builtinplans.FS(), Hosts: hostArgs})
	if diags.HasErrors() {
		t.Fatalf("load %v: %s", plans, diags.Error())
	}
	var buf bytes.Buffer
	if diags := dsl.Render(p, &buf); diags.HasErrors() {
		t.Fatalf("render %v: %s", plans, diags.Error())
	}
	return buf.String()
}

// waitScript renders templates/wait.sh as the plan does, through a one-task plan.
func waitScript(t *testing.T, probe, diagnose string, timeout int) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("scratch", "templates", "wait.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wait.sh"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	plan := fmt.Sprintf(`
task "w" {
  on = host.h
  script "wait" {
    content = templatefile("wait.sh", {
      what = "etcd's health", timeout = %d, interval = 1, ready = "it's ready",
      probe = %q, diagnose = %q,
    })
  }
}
host "h" {}
`, timeout, probe, diagnose)
	if err := os.WriteFile(filepath.Join(dir, "p.hcl"), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	out := renderWith(t, []string{filepath.Join(dir, "p.hcl")}, nil)
	bodies := shellBodies(out)
	body, ok := bodies["w[h] script wait"]
	if !ok {
		t.Fatalf("no script in render:\n%s", out)
	}
	return body
}

// TestWaitReportsLastError: a wait that times out says what it waited for and what the
// probe's last try printed (the fix for "exit code 1" with etcdctl's "not found" hidden).
func TestWaitReportsLastError(t *testing.T) {
	script := waitScript(t, "echo 'sh: 1: etcdctl: not found' >&2; return 127", "echo diagnosis-here", 1)
	cmd := exec.Command("sh", "-s")
	cmd.Stdin = strings.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("wait.sh: %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"gave up waiting for etcd's health after 1s", "The last try said:", "etcdctl: not found", "diagnosis-here"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	// A probe that succeeds on its third try: the wait says it is ready and exits 0.
	script = waitScript(t, `n=$(cat "$0.n" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$0.n"; [ $n -ge 3 ]`, "true", 30)
	tmp := filepath.Join(t.TempDir(), "count")
	cmd = exec.Command("sh", "-c", script, tmp)
	stdout.Reset()
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("wait.sh with a probe that succeeds: %v", err)
	}
	if strings.TrimSpace(stdout.String()) != "it's ready" {
		t.Errorf("stdout %q, want the ready message", stdout.String())
	}
}
