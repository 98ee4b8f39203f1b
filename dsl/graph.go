package dsl

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// nodeInfo is what the plan keeps about a node besides the public Node.
type nodeInfo struct {
	task *task
	// checkOutputs are the node's outputs as the offline type check saw
	// them: unknown values of the right type (with their marks).
	checkOutputs map[string]cty.Value
	// reads are the files file()/templatefile() read for this node, with
	// their sha256, for the fingerprint.
	reads map[string]string
}

func nodeID(task, host string) string { return task + "[" + host + "]" }

// buildGraph orders tasks by their references (reporting cycles), makes one
// node per (task, host) and links nodes per host.
func (p *Plan) buildGraph() hcl.Diagnostics {
	var diags hcl.Diagnostics
	keys := make([]string, len(p.tasks))
	deps := map[string][]depEdge{}
	for i, t := range p.tasks {
		keys[i] = "task." + t.name
		seen := map[string]bool{}
		for _, r := range t.refs {
			if seen[r.task] {
				continue
			}
			seen[r.task] = true
			deps[keys[i]] = append(deps[keys[i]], depEdge{to: "task." + r.task, rng: r.rng})
		}
	}
	order, cyc := topoOrder(keys, deps)
	if cyc != nil {
		return hcl.Diagnostics{cyc}
	}
	for _, key := range order {
		t := p.taskByName[strings.TrimPrefix(key, "task.")]
		rolling, d := p.taskRolling(t)
		diags = append(diags, d...)
		first := len(p.nodes)
		for _, h := range t.hosts {
			n := &Node{ID: nodeID(t.name, h.Name), Task: t.name, Host: h, Range: t.declRange}
			n.Deps = p.nodeDeps(t, h)
			diags = append(diags, p.checkOutputRefsOn(t, h)...)
			p.nodes = append(p.nodes, n)
			p.nodeByID[n.ID] = n
			p.info[n] = &nodeInfo{task: t, reads: map[string]string{}}
		}
		if rolling != nil {
			setRolling(p.nodes[first:], rolling)
		}
	}
	return diags
}

// nodeDeps applies the per-host rule: a reference to task X from the node
// on h waits for X on h when X runs there, else for every node of X; an
// indexed reference task.X["w1"] waits for that node; a computed index
// (task.X[target.name]) waits for every node of X.
func (p *Plan) nodeDeps(t *task, h *Host) []*Node {
	var out []*Node
	seen := map[*Node]bool{}
	add := func(n *Node) {
		if n != nil && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, r := range t.refs {
		x := p.taskByName[r.task]
		switch {
		case r.host != "":
			add(p.nodeByID[nodeID(x.name, r.host)])
		case r.allHosts:
			for _, xh := range x.hosts {
				add(p.nodeByID[nodeID(x.name, xh.Name)])
			}
		case containsHost(x.hosts, h):
			add(p.nodeByID[nodeID(x.name, h.Name)])
		default:
			for _, xh := range x.hosts {
				add(p.nodeByID[nodeID(x.name, xh.Name)])
			}
		}
	}
	return out
}

// checkOutputRefsOn checks that every task.X.output.Y in t, evaluated on
// host h, names one node: X runs on one host only, or on h.
func (p *Plan) checkOutputRefsOn(t *task, h *Host) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, r := range t.refs {
		if r.host != "" || r.output == "" || r.explicit || r.allHosts {
			continue
		}
		x := p.taskByName[r.task]
		if len(x.hosts) == 1 || containsHost(x.hosts, h) {
			continue
		}
		summary, detail := "Ambiguous task output", ""
		if len(x.hosts) == 0 {
			summary = "Task output unavailable"
			detail = fmt.Sprintf("Task %q runs on no host (its `on` is empty), so it has no outputs for task %q on %q.", x.name, t.name, h.Name)
		} else {
			detail = fmt.Sprintf("Task %q runs on several hosts (%s) and not on %q, where task %q runs; say which with task.%s[\"%s\"].output.%s.",
				x.name, hostNames(x.hosts), h.Name, t.name, x.name, x.hosts[0].Name, strings.TrimPrefix(r.output, "*"))
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.rng.Ptr()})
	}
	return diags
}

// nodeSettings evaluates sudo, timeout and retry for one node; they may use
// target but nothing known only at run time.
func (p *Plan) nodeSettings(n *Node, t *task) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := p.nodeContext(t.filename, n.Host, t.eachVars())
	if a, ok := t.attrs["sudo"]; ok {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() && !v.IsNull() {
			b, err := asBool(v)
			if err != nil {
				diags = append(diags, attrDiag(a, "Invalid sudo", err))
			}
			n.Sudo = b
		}
	}
	if a, ok := t.attrs["always_run"]; ok {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			b, err := asBool(v)
			if err != nil {
				diags = append(diags, attrDiag(a, "Invalid always_run", err))
			}
			n.AlwaysRun = b
		}
	}
	if a, ok := t.attrs["timeout"]; ok {
		dur, d := durationAttr(a, ctx)
		diags = append(diags, d...)
		n.Timeout = dur
	}
	n.Retry = Retry{Attempts: 1}
	if t.retry != nil {
		r, d := retryValue(t.retry, ctx)
		diags = append(diags, d...)
		n.Retry = r
	}
	return diags
}

func durationAttr(a *hcl.Attribute, ctx *hcl.EvalContext) (time.Duration, hcl.Diagnostics) {
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() || v.IsNull() {
		return 0, diags
	}
	v, _ = v.Unmark()
	if !v.IsKnown() {
		return 0, diags
	}
	if v.Type() == cty.Number {
		secs, err := asInt(v)
		if err != nil || secs < 0 {
			return 0, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + a.Name,
				Detail: "A duration is a string such as \"90s\", \"5m\" or \"1h30m\", or a whole number of seconds.", Subject: a.Expr.Range().Ptr()})
		}
		return time.Duration(secs) * time.Second, diags
	}
	s, err := asString(v)
	if err == nil {
		var dur time.Duration
		dur, err = time.ParseDuration(s)
		if err == nil && dur >= 0 {
			return dur, diags
		}
	}
	return 0, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + a.Name,
		Detail: "A duration is a string such as \"90s\", \"5m\" or \"1h30m\", or a whole number of seconds.", Subject: a.Expr.Range().Ptr()})
}

func retryValue(r *retryDecl, ctx *hcl.EvalContext) (Retry, hcl.Diagnostics) {
	out := Retry{Attempts: 3, Delay: 5 * time.Second}
	var diags hcl.Diagnostics
	if a, ok := r.attrs["attempts"]; ok {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			n, err := asInt(v)
			if err == nil && n < 1 {
				err = fmt.Errorf("attempts counts tries, so it is at least 1")
			}
			if err != nil {
				diags = append(diags, attrDiag(a, "Invalid attempts", err))
			} else {
				out.Attempts = n
			}
		}
	}
	if a, ok := r.attrs["delay"]; ok {
		dur, d := durationAttr(a, ctx)
		diags = append(diags, d...)
		out.Delay = dur
	}
	return out, diags
}

// nodeContext is the static context plus target (and, when vars is given,
// extra variables such as task and step).
func (p *Plan) nodeContext(filename string, h *Host, extra map[string]cty.Value) *hcl.EvalContext {
	vars := p.staticVars()
	vars["target"] = hostValue(h)
	for k, v := range extra {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: p.functions(filename)}
}
