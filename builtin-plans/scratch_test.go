package builtinplans_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	builtinplans "github.com/plan-dev/plan/builtin-plans"
	"github.com/plan-dev/plan/dsl"
	"github.com/plan-dev/plan/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current renders")

// topologies are the scratch plan's three shapes (plus one offline render), as -H
// bindings and --var assignments.
var topologies = []struct {
	name  string
	hosts []string
	vars  []string
}{
	{"single", []string{"k8s-master"}, nil},
	{"1+2", []string{"masters=cp1", "workers=w1,w2"}, nil},
	{"3+2", []string{"masters=cp1,cp2,cp3", "workers=w1,w2"}, nil},
	{"single-offline", []string{"k8s-master"}, []string{"artifacts_dir=/srv/artifacts", "kube_proxy_mode=nftables", "kubelet_fail_cgroup_v1=false", "containerd_restrict_oom_score_adj=true"}},
}

func goldenPath(name string) string {
	return filepath.Join("testdata", "scratch-"+strings.ReplaceAll(name, "+", "-")+".golden")
}

func render(t *testing.T, plan string, hosts, vars []string) string {
	t.Helper()
	p, diags := dsl.Load([]string{plan}, dsl.Options{FS: builtinplans.FS(), Hosts: hosts, Vars: vars})
	if diags.HasErrors() {
		t.Fatalf("load %s %v %v: %s", plan, hosts, vars, diags.Error())
	}
	var buf bytes.Buffer
	if diags := dsl.Render(p, &buf); diags.HasErrors() {
		t.Fatalf("render %s %v: %s", plan, hosts, diags.Error())
	}
	return buf.String()
}

// TestScratchRenderGolden pins what the scratch plan sends to each host in each topology.
// Refresh with: go test ./builtin-plans -run Golden -update
func TestScratchRenderGolden(t *testing.T) {
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			got := render(t, "scratch", tp.hosts, tp.vars)
			golden.Check(t, goldenPath(tp.name), got, *update, "go test ./builtin-plans -run Golden -update")
		})
	}
}

// TestScratchResetRenders checks that the reset plan loads and renders.
func TestScratchResetRenders(t *testing.T) {
	out := render(t, "scratch-reset", []string{"masters=cp1", "workers=w1"}, nil)
	if !strings.Contains(out, "reset.sh: undo what the scratch plan did") {
		t.Errorf("unexpected reset render:\n%s", out)
	}
}

// shellBodies extracts every run command, script body and unless guard from a render.
func shellBodies(render string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(render, "\n")
	node := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "=== ") {
			node = strings.Fields(l)[1]
			continue
		}
		if !strings.HasPrefix(l, "--- run ") && !strings.HasPrefix(l, "--- script ") {
			continue
		}
		name := node + " " + strings.Fields(l)[1] + " " + strings.Fields(l)[2]
		var body []string
		j := i + 1
		for ; j < len(lines); j++ {
			b := lines[j]
			if strings.HasPrefix(b, "--- ") || strings.HasPrefix(b, "=== ") {
				break
			}
			if len(body) == 0 {
				if strings.HasPrefix(b, "skipped:") {
					break
				}
				if strings.HasPrefix(b, "when:") || strings.HasPrefix(b, "creates:") || strings.HasPrefix(b, "sudo:") ||
					strings.HasPrefix(b, "timeout:") || strings.HasPrefix(b, "env:") {
					continue
				}
				if strings.HasPrefix(b, "unless:") {
					g := strings.TrimSpace(strings.TrimPrefix(b, "unless:"))
					if u, err := strconv.Unquote(g); err == nil { // a multi-line guard renders quoted
						g = u
					}
					out[name+" (unless)"] = g
					continue
				}
			}
			body = append(body, b)
		}
		i = j - 1
		if s := strings.TrimSpace(strings.Join(body, "\n")); s != "" {
			out[name] = s + "\n"
		}
	}
	return out
}

var placeholder = regexp.MustCompile(`<(computed at run time from|task\.|step\.)[^>]*>`)

// TestScratchShellcheck runs shellcheck on every shell body the scratch and reset plans send.
func TestScratchShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck not on PATH")
	}
	bodies := map[string]string{}
	for _, tp := range topologies {
		for k, v := range shellBodies(render(t, "scratch", tp.hosts, tp.vars)) {
			bodies[tp.name+" "+k] = v
		}
	}
	for k, v := range shellBodies(render(t, "scratch-reset", []string{"masters=cp1", "workers=w1"}, nil)) {
		bodies["reset "+k] = v
	}
	if len(bodies) < 20 {
		t.Fatalf("found only %d shell bodies in the renders; is the render format different?", len(bodies))
	}
	// Identical bodies are checked once.
	seen := map[string]string{}
	for name, body := range bodies {
		body = placeholder.ReplaceAllString(body, "placeholder")
		body = strings.ReplaceAll(body, "(sensitive)", "sensitive")
		if _, dup := seen[body]; dup {
			continue
		}
		seen[body] = name
	}
	dir := t.TempDir()
	i := 0
	for body, name := range seen {
		i++
		f := filepath.Join(dir, fmt.Sprintf("body%03d.sh", i))
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("shellcheck", "-s", "sh", "-S", "warning", f)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s:\n%s\n--- body ---\n%s", name, out, body)
		}
	}
	t.Logf("%d distinct shell bodies pass shellcheck", len(seen))
}

// TestVagrantfileRuby checks that the Vagrantfile is valid Ruby.
func TestVagrantfileRuby(t *testing.T) {
	if _, err := exec.LookPath("ruby"); err != nil {
		t.Skip("ruby not on PATH")
	}
	out, err := exec.Command("ruby", "-c", filepath.Join("..", "Vagrantfile")).CombinedOutput()
	if err != nil {
		t.Fatalf("ruby -c Vagrantfile: %v\n%s", err, out)
	}
}

// TestScriptTemplatesShellcheck checks the shell templates as files too (they are also
// checked inside the renders above, with the plan's values).
func TestScriptTemplatesShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck not on PATH")
	}
	files, _ := filepath.Glob(filepath.Join("scratch", "templates", "*.sh"))
	if len(files) == 0 {
		t.Fatal("no templates/*.sh")
	}
	args := append([]string{"-s", "sh", "-S", "warning", "-e", "SC2034,SC2154"}, files...)
	if out, err := exec.Command("shellcheck", args...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck templates:\n%s", out)
	}
}

// TestAddonsExampleValidates checks docs/examples/addons.hcl together with the built-in plan,
// as `plan run scratch.hcl addons.hcl` loads them.
func TestAddonsExampleValidates(t *testing.T) {
	abs, err := filepath.Abs(filepath.Join("..", "docs", "examples", "addons.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	p, diags := dsl.Load([]string{"scratch", abs}, dsl.Options{FS: builtinplans.FS(), Hosts: []string{"masters=cp1", "workers=w1,w2"}})
	if diags.HasErrors() {
		t.Fatalf("scratch + addons.hcl: %s", diags.Error())
	}
	var buf bytes.Buffer
	if diags := dsl.Render(p, &buf); diags.HasErrors() {
		t.Fatalf("render scratch + addons.hcl: %s", diags.Error())
	}
	if !strings.Contains(buf.String(), "demo_app[cp1]") {
		t.Errorf("render has no demo_app node")
	}
}
