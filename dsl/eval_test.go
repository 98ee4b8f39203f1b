package dsl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// writePlan writes files into a temporary plan directory.
func writePlan(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t *testing.T, dir string, opts Options) *Plan {
	t.Helper()
	p, diags := Load([]string{dir}, opts)
	if diags.HasErrors() {
		t.Fatalf("load: %s", diagText(diags))
	}
	return p
}

// outputs is an Upstream backed by a map keyed by node ID.
type outputs map[string]map[string]cty.Value

func (o outputs) Outputs(task, host string) (map[string]cty.Value, bool) {
	v, ok := o[nodeID(task, host)]
	return v, ok
}

func nodeByID(t *testing.T, p *Plan, id string) *Node {
	t.Helper()
	for _, n := range p.Nodes() {
		if n.ID == id {
			return n
		}
	}
	t.Fatalf("no node %s", id)
	return nil
}

func depIDs(n *Node) string {
	var ids []string
	for _, d := range n.Deps {
		ids = append(ids, d.ID)
	}
	return strings.Join(ids, " ")
}

const pipelinePlan = `
variable "token" {
  type      = string
  default   = "abcdef.0123456789abcdef"
  sensitive = true
}
group "masters" {}
group "workers" {}
task "gen" {
  on = group.masters.hosts[0]
  run "make" {
    command = "echo 42"
  }
  output "value" {
    value     = trimspace(step.make.stdout)
    sensitive = true
  }
  output "plain" {
    value = "n=${trimspace(step.make.stdout)}"
  }
}
task "prep" {
  on = concat(group.masters.hosts, group.workers.hosts)
  run "a" { command = "true" }
}
task "use" {
  on   = group.workers.hosts
  sudo = true
  env  = { TOKEN = var.token }
  run "first" {
    command = "echo ${task.gen.output.plain} on ${target.name}"
  }
  run "second" {
    command = "echo ${step.first.stdout} ${step.first.exit_code}"
    when    = step.first.exit_code == 0
  }
  run "skipped" {
    command = "never"
    when    = step.first.stdout == "nope"
  }
  file "secret" {
    destination = "/etc/secret"
    content     = "token=${task.gen.output.value}"
    mode        = "600"
    sudo        = false
  }
  output "echo" {
    value = step.second.stdout
  }
  output "was_skipped" {
    value = step.skipped.skipped
  }
}
task "after" {
  on         = group.workers.hosts
  depends_on = [task.prep]
  run "x" { command = "true" }
}
task "pinned" {
  on         = group.workers.hosts
  depends_on = [task.prep["m1"]]
  run "x" { command = "true" }
}
`

func TestGraphPerHostEdges(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": pipelinePlan})
	p := mustLoad(t, dir, Options{Hosts: []string{"m1", "workers=w1,w2"}})
	cases := []struct{ node, deps string }{
		{"gen[m1]", ""},
		{"use[w1]", "gen[m1]"},    // gen does not run on w1: all of gen
		{"after[w1]", "prep[w1]"}, // prep runs on w1: only that node
		{"after[w2]", "prep[w2]"},
		{"prep[m1]", ""},
		{"pinned[w2]", "prep[m1]"}, // depends_on = [task.prep["m1"]]
	}
	for _, c := range cases {
		if got := depIDs(nodeByID(t, p, c.node)); got != c.deps {
			t.Errorf("%s deps = %q, want %q", c.node, got, c.deps)
		}
	}
	// Topological order: every node after its dependencies.
	pos := map[*Node]int{}
	for i, n := range p.Nodes() {
		pos[n] = i
	}
	for _, n := range p.Nodes() {
		for _, d := range n.Deps {
			if pos[d] >= pos[n] {
				t.Errorf("%s comes before its dependency %s", n.ID, d.ID)
			}
		}
	}
}

func TestEvaluatorRunsStepsInOrder(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": pipelinePlan})
	p := mustLoad(t, dir, Options{Hosts: []string{"m1", "workers=w1"}})
	n := nodeByID(t, p, "use[w1]")
	if !n.Sudo {
		t.Errorf("use[w1] should run with sudo")
	}
	up := outputs{"gen[m1]": {"value": cty.StringVal("s3cr3t-token"), "plain": cty.StringVal("n=42")}}
	ev, diags := p.Evaluator(n, up)
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	if ok, d := ev.When(); !ok || d.HasErrors() {
		t.Fatalf("When = %v %s", ok, diagText(d))
	}
	if ev.Len() != 4 || ev.StepName(1) != "second" || ev.StepKind(3) != StepFile {
		t.Fatalf("steps: len %d, %s, %s", ev.Len(), ev.StepName(1), ev.StepKind(3))
	}

	st, run, d := ev.Step(0)
	if d.HasErrors() || !run {
		t.Fatalf("step 0: run=%v %s", run, diagText(d))
	}
	if st.Command != "echo n=42 on w1" {
		t.Errorf("command = %q", st.Command)
	}
	if st.Env["TOKEN"] != "abcdef.0123456789abcdef" || !st.Sudo {
		t.Errorf("env/sudo not passed: %v %v", st.Env, st.Sudo)
	}
	ev.Record(0, StepResult{Stdout: "hello", ExitCode: 0, Changed: true})

	st, run, d = ev.Step(1)
	if d.HasErrors() || !run || st.Command != "echo hello 0" {
		t.Fatalf("step 1: run=%v command=%q %s", run, st.Command, diagText(d))
	}
	ev.Record(1, StepResult{Stdout: "second-out"})

	_, run, d = ev.Step(2)
	if d.HasErrors() || run {
		t.Fatalf("step 2 should be skipped by when: run=%v %s", run, diagText(d))
	}

	st, run, d = ev.Step(3)
	if d.HasErrors() || !run {
		t.Fatalf("step 3: %s", diagText(d))
	}
	if string(st.Content) != "token=s3cr3t-token" || st.Mode != 0o600 || st.Sudo || st.Destination != "/etc/secret" {
		t.Errorf("file step = %+v", st)
	}
	ev.Record(3, StepResult{Changed: true})

	outs, d := ev.Outputs()
	if d.HasErrors() {
		t.Fatal(diagText(d))
	}
	if outs["echo"].AsString() != "second-out" {
		t.Errorf("output echo = %#v", outs["echo"])
	}
	if !outs["was_skipped"].True() {
		t.Errorf("step.skipped.skipped should be true")
	}
	secrets := strings.Join(ev.Secrets(), "|")
	for _, want := range []string{"s3cr3t-token", "abcdef.0123456789abcdef"} {
		if !strings.Contains(secrets, want) {
			t.Errorf("Secrets() lacks %q: %q", want, secrets)
		}
	}
	fp := ev.Fingerprint()
	if fresh, _ := p.Evaluator(n, up); fresh.Fingerprint() != fp {
		t.Errorf("the fingerprint must not depend on how far evaluation went")
	}
	ev2, _ := p.Evaluator(n, outputs{"gen[m1]": {"value": cty.StringVal("other"), "plain": cty.StringVal("n=42")}})
	if fp == "" || fp == ev2.Fingerprint() {
		t.Errorf("fingerprint must change with upstream outputs")
	}
	ev3, _ := p.Evaluator(n, up)
	if fp != ev3.Fingerprint() {
		t.Errorf("fingerprint must be stable for the same inputs")
	}
}

func TestEvaluatorOutputsMarkSensitive(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": pipelinePlan})
	p := mustLoad(t, dir, Options{Hosts: []string{"m1"}})
	ev, diags := p.Evaluator(nodeByID(t, p, "gen[m1]"), outputs{})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	ev.Record(0, StepResult{Stdout: "tok\n"})
	outs, d := ev.Outputs()
	if d.HasErrors() {
		t.Fatal(diagText(d))
	}
	if !outs["value"].HasMark(Sensitive) {
		t.Errorf("output value should be marked sensitive")
	}
	if outs["plain"].HasMark(Sensitive) {
		t.Errorf("output plain should not be sensitive")
	}
	if got := strings.Join(ev.Secrets(), ","); !strings.Contains(got, "tok") {
		t.Errorf("secrets = %q", got)
	}
}

func TestEvaluatorMissingUpstreamIsNull(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": pipelinePlan})
	p := mustLoad(t, dir, Options{Hosts: []string{"m1", "workers=w1"}})
	ev, diags := p.Evaluator(nodeByID(t, p, "use[w1]"), outputs{})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	// "echo ${null}" cannot be rendered: the step reports it.
	if _, run, d := ev.Step(0); run || !d.HasErrors() || !strings.Contains(diagText(d), "null") {
		t.Fatalf("want a diagnostic about the null output, got run=%v %s", run, diagText(d))
	}
}

func TestStepWhenFalseSkipsBeforeEvaluatingTheRest(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `
group "g" {}
task "maybe" {
  on   = group.g.hosts
  when = false
  output "v" {
    value = "x"
  }
}
task "user" {
  on = group.g.hosts
  run "guarded" {
    when    = task.maybe.output.v != null
    command = "echo ${task.maybe.output.v}"
  }
}
`})
	p := mustLoad(t, dir, Options{Hosts: []string{"h"}})
	ev, diags := p.Evaluator(nodeByID(t, p, "user[h]"), outputs{})
	if diags.HasErrors() {
		t.Fatal(diagText(diags))
	}
	st, run, d := ev.Step(0)
	if run || d.HasErrors() || st.Name != "guarded" {
		t.Fatalf("want a clean skip, got run=%v %s", run, diagText(d))
	}
}

func TestEmptyGroupGivesNoNodes(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": pipelinePlan})
	p := mustLoad(t, dir, Options{Hosts: []string{"m1"}})
	for _, n := range p.Nodes() {
		if n.Task == "use" || n.Task == "after" {
			t.Errorf("task on an empty group made node %s", n.ID)
		}
	}
	if len(p.Nodes()) != 2 {
		t.Errorf("nodes = %d, want 2 (gen[m1], prep[m1])", len(p.Nodes()))
	}
}

func TestVariablePrecedence(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"plan.hcl": `
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "n" {
  type    = number
  default = 1
}
variable "l" {
  type    = list(string)
  default = []
}
`,
		"vars.hcl": "b = \"file\"\nc = \"file\"\nd = \"file\"\n",
	})
	p := mustLoad(t, filepath.Join(dir, "plan.hcl"), Options{
		Environ:  []string{"PLAN_VAR_a=env", "PLAN_VAR_b=env", "PLAN_VAR_c=env", "PLAN_VAR_n=7", "OTHER=x", "PLAN_VAR_undeclared=ignored"},
		VarFiles: []string{filepath.Join(dir, "vars.hcl")},
		Vars:     []string{"c=flag", "l=[\"x\", \"y\"]"},
	})
	cases := map[string]string{"a": "env", "b": "file", "c": "flag", "d": "file"}
	for name, want := range cases {
		if got := p.varVals[name].AsString(); got != want {
			t.Errorf("var.%s = %q, want %q", name, got, want)
		}
	}
	if n, _ := p.varVals["n"].AsBigFloat().Int64(); n != 7 {
		t.Errorf("var.n = %d, want 7 (from PLAN_VAR_n, converted to number)", n)
	}
	if l := p.varVals["l"]; l.LengthInt() != 2 {
		t.Errorf("var.l = %#v", l)
	}

	// A .json variables file is read as HCL's JSON syntax.
	jsonFile := filepath.Join(dir, "vars.json")
	if err := os.WriteFile(jsonFile, []byte(`{"a": "json", "n": 9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p = mustLoad(t, filepath.Join(dir, "plan.hcl"), Options{VarFiles: []string{jsonFile}})
	if got := p.varVals["a"].AsString(); got != "json" {
		t.Errorf("var.a from JSON = %q", got)
	}
	if n, _ := p.varVals["n"].AsBigFloat().Int64(); n != 9 {
		t.Errorf("var.n from JSON = %d", n)
	}
}

func TestHostArgs(t *testing.T) {
	cases := []struct {
		arg               string
		group, user, name string
		port              int
		wantErr           bool
	}{
		{arg: "k8s-master", name: "k8s-master"},
		{arg: "workers=root@w1:2222", group: "workers", user: "root", name: "w1", port: 2222},
		{arg: "[::1]:2200", name: "::1", port: 2200},
		{arg: "fd00::5", name: "fd00::5"},
		{arg: "vagrant:k8s-master", name: "vagrant:k8s-master"},
		{arg: "h:99999", wantErr: true},
		{arg: "=h", wantErr: true},
		{arg: "g=", wantErr: true},
		{arg: "@h", wantErr: true},
	}
	for _, c := range cases {
		got, diags := parseHostArgs([]string{c.arg})
		if c.wantErr {
			if !diags.HasErrors() {
				t.Errorf("-H %s: want an error", c.arg)
			}
			continue
		}
		if diags.HasErrors() || len(got) != 1 {
			t.Errorf("-H %s: %s", c.arg, diagText(diags))
			continue
		}
		h := got[0]
		if h.group != c.group || h.user != c.user || h.name != c.name || h.port != c.port {
			t.Errorf("-H %s = %+v", c.arg, h)
		}
	}
	list, diags := parseHostArgs([]string{"g=a,b,c"})
	if diags.HasErrors() || len(list) != 3 || list[2].name != "c" || list[2].group != "g" {
		t.Errorf("-H g=a,b,c = %+v %s", list, diagText(diags))
	}
}

func TestHostBinding(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `
host "cp1" {
  address = "10.0.0.1"
  user    = "vagrant"
}
group "masters" {
  hosts = [host.cp1]
}
group "workers" {}
`})
	p := mustLoad(t, dir, Options{Hosts: []string{"admin@cp1:2200", "workers=w1,ops@w2"}})
	hs := p.Hosts()
	if len(hs) != 3 || hs[0].Name != "cp1" || hs[1].Name != "w1" || hs[2].Name != "w2" {
		t.Fatalf("hosts = %v", hostNamesList(hs))
	}
	if hs[0].User != "admin" || hs[0].Port != 2200 || hs[0].Address != "10.0.0.1" {
		t.Errorf("-H should override user and port of a declared host: %+v", hs[0])
	}
	if hs[2].User != "ops" || hs[2].Address != "w2" || strings.Join(hs[2].Groups, ",") != "workers" {
		t.Errorf("-H host: %+v", hs[2])
	}
	if strings.Join(hs[0].Groups, ",") != "masters" {
		t.Errorf("cp1 groups = %v", hs[0].Groups)
	}

	// A declared host bound by -H is fully evaluated before a local reads
	// it through its group.
	dir = writePlan(t, map[string]string{"plan.hcl": `
locals {
  first = group.a_group.hosts[0].address
}
host "zz" {
  address = "10.1.2.3"
}
group "a_group" {}
`})
	p = mustLoad(t, dir, Options{Hosts: []string{"zz"}})
	if got := p.localVals["first"].AsString(); got != "10.1.2.3" {
		t.Errorf("local.first = %q, want the host block's address", got)
	}
}

func TestFunctions(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"plan.hcl": `
locals {
  host1   = cidrhost("10.96.0.0/12", 1)
  last    = cidrhost("10.0.0.0/24", -2)
  v6      = cidrhost("fd00::/64", 16)
  subnet  = cidrsubnet("10.244.0.0/16", 8, 2)
  b64     = base64encode("hi there")
  back    = base64decode("aGkgdGhlcmU=")
  sum     = sha256("abc")
  yaml    = yamlencode({ b = [1, "x"], a = { c = true } })
  json    = jsonencode({ a = 1 })
  ind     = indent(2, "a\nb")
  trimmed = trimspace("  x \n")
  tmpl    = templatefile("t/hello.tpl", { name = "world", items = ["a", "b"] })
  text    = file("t/plain.txt")
  len     = length("héllo")
  exists  = fileexists("t/plain.txt")
}
`,
		"t/hello.tpl": "hello ${name}%{ for i in items } ${i}%{ endfor }\n",
		"t/plain.txt": "plain\n",
	})
	p := mustLoad(t, dir, Options{})
	want := map[string]string{
		"host1":   "10.96.0.1",
		"last":    "10.0.0.254",
		"v6":      "fd00::10",
		"subnet":  "10.244.2.0/24",
		"b64":     "aGkgdGhlcmU=",
		"back":    "hi there",
		"sum":     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"yaml":    "a:\n  c: true\nb:\n  - 1\n  - \"x\"\n",
		"json":    `{"a":1}`,
		"ind":     "a\n  b",
		"trimmed": "x",
		"tmpl":    "hello world a b\n",
		"text":    "plain\n",
	}
	for k, w := range want {
		if got := p.localVals[k].AsString(); got != w {
			t.Errorf("local.%s = %q, want %q", k, got, w)
		}
	}
	if n, _ := p.localVals["len"].AsBigFloat().Int64(); n != 5 {
		t.Errorf("length of a string = %d, want 5", n)
	}
	if !p.localVals["exists"].True() {
		t.Errorf("fileexists should be true")
	}
	for _, bad := range []string{`cidrhost("10.0.0.0/30", 4)`, `cidrsubnet("10.0.0.0/30", 4, 0)`, `base64decode("%%%")`, `file("missing")`, `templatefile("t/hello.tpl", { name = "x" })`} {
		dir := writePlan(t, map[string]string{"plan.hcl": "locals {\n  x = " + bad + "\n}\n", "t/hello.tpl": "${name} ${items}"})
		if _, diags := Load([]string{dir}, Options{}); !diags.HasErrors() {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestLocalsInDependencyOrderAndCycle(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": `
locals {
  c = "${local.b}-c"
  a = "a"
}
locals {
  b = "${local.a}-b"
}
`})
	p := mustLoad(t, dir, Options{})
	if got := p.localVals["c"].AsString(); got != "a-b-c" {
		t.Errorf("local.c = %q", got)
	}
	dir = writePlan(t, map[string]string{"plan.hcl": "locals {\n  a = local.b\n  b = local.a\n}\n"})
	_, diags := Load([]string{dir}, Options{})
	if len(diags) != 1 || diags[0].Summary != "Dependency cycle" || !strings.Contains(diags[0].Detail, "local.a -> local.b") {
		t.Errorf("want one cycle diagnostic, got %s", diagText(diags))
	}
}

func TestSeveralFilesOneNamespace(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"a.hcl": "group \"g\" {}\ntask \"one\" {\n  on = group.g.hosts\n  run \"x\" { command = \"echo ${var.v}\" }\n}\n",
		"b.hcl": "variable \"v\" { default = \"from-b\" }\ntask \"two\" {\n  on = group.g.hosts\n  depends_on = [task.one]\n  run \"y\" { command = \"true\" }\n}\n",
	})
	p := mustLoad(t, dir, Options{Hosts: []string{"h"}})
	if got := depIDs(nodeByID(t, p, "two[h]")); got != "one[h]" {
		t.Errorf("two deps = %q", got)
	}
	// The same file alone lacks b.hcl's variable.
	if _, diags := Load([]string{filepath.Join(dir, "a.hcl")}, Options{Hosts: []string{"h"}}); !diags.HasErrors() {
		t.Errorf("a.hcl alone should not load: var.v is declared in b.hcl")
	}
	// Files given one by one share the namespace too.
	if _, diags := Load([]string{filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")}, Options{Hosts: []string{"h"}}); diags.HasErrors() {
		t.Errorf("a.hcl + b.hcl: %s", diagText(diags))
	}
}

// The executor evaluates nodes concurrently: evaluators of one plan must
// not share mutable state (run with -race).
func TestEvaluatorsConcurrently(t *testing.T) {
	dir := writePlan(t, map[string]string{"plan.hcl": pipelinePlan})
	p := mustLoad(t, dir, Options{Hosts: []string{"m1", "workers=w1,w2,w3,w4"}})
	up := outputs{"gen[m1]": {"value": cty.StringVal("tok"), "plain": cty.StringVal("n=1")}}
	done := make(chan string)
	for _, n := range p.Nodes() {
		go func() {
			ev, d := p.Evaluator(n, up)
			if d.HasErrors() {
				done <- diagText(d)
				return
			}
			ev.When()
			for i := 0; i < ev.Len(); i++ {
				ev.Step(i)
				ev.Record(i, StepResult{Stdout: "x"})
			}
			ev.Outputs()
			ev.Fingerprint()
			done <- ""
		}()
	}
	for range p.Nodes() {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

func TestFingerprintFollowsTemplatesAndVariables(t *testing.T) {
	plan := `
variable "v" { default = "a" }
variable "unused" { default = "x" }
group "g" {}
task "t" {
  on = group.g.hosts
  file "f" {
    destination = "/etc/f"
    content     = templatefile("t.tpl", { v = var.v })
  }
}
`
	dir := writePlan(t, map[string]string{"plan.hcl": plan, "t.tpl": "one ${v}"})
	fp := func(opts Options) string {
		t.Helper()
		opts.Hosts = []string{"h"}
		p := mustLoad(t, dir, opts)
		ev, d := p.Evaluator(nodeByID(t, p, "t[h]"), outputs{})
		if d.HasErrors() {
			t.Fatal(diagText(d))
		}
		return ev.Fingerprint()
	}
	base := fp(Options{})
	if fp(Options{Vars: []string{"unused=y"}}) != base {
		t.Errorf("a variable the task does not use changed the fingerprint")
	}
	if fp(Options{Vars: []string{"v=b"}}) == base {
		t.Errorf("a variable the task uses did not change the fingerprint")
	}
	if err := os.WriteFile(filepath.Join(dir, "t.tpl"), []byte("two ${v}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fp(Options{}) == base {
		t.Errorf("a changed template did not change the fingerprint")
	}
}
