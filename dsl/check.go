package dsl

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// typeCheck evaluates every node in graph order with typed unknowns for
// run-time values, so that type errors show up before anything runs.
// Diagnostics repeated by several nodes of one task are reported once.
func (p *Plan) typeCheck() hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]int{}    // key -> index in diags
	where := map[int][]string{} // index in diags -> hosts it was found on
	var host string
	add := func(ds hcl.Diagnostics) {
		for _, d := range ds {
			key := d.Summary + "\x00" + d.Detail
			if d.Subject != nil {
				key += "\x00" + d.Subject.String()
			}
			i, dup := seen[key]
			if !dup {
				i = len(diags)
				seen[key] = i
				diags = append(diags, d)
			}
			where[i] = append(where[i], host)
		}
	}
	defer func() {
		for i, d := range diags {
			d.Detail = strings.TrimSpace(d.Detail + " " + p.onHosts(where[i]))
		}
	}()
	for _, n := range p.nodes {
		host = n.Host.Name
		add(p.nodeSettings(n, p.info[n].task))
		ev, d := p.newEvaluator(n, nil, modeCheck)
		add(d)
		if ev == nil {
			continue
		}
		_, d = ev.When()
		add(d)
		for i := range ev.t.steps {
			_, _, d := ev.Step(i)
			add(d)
		}
		outs, d := ev.Outputs()
		add(d)
		info := p.info[n]
		info.checkOutputs = map[string]cty.Value{}
		for _, o := range ev.t.outputs {
			v, ok := outs[o.name]
			if !ok {
				v = cty.DynamicVal
			}
			// A value known here does not depend on anything run-time, so
			// it is exactly what the run will produce: keeping it lets
			// the check of downstream nodes catch more type errors.
			info.checkOutputs[o.name] = v
		}
		for k, v := range ev.reads {
			info.reads[k] = v
		}
	}
	return diags
}

// onHosts names the hosts a per-node diagnostic was found on: "(On host
// w1.)", "(On hosts w1, w2 and 3 more.)", or, for the placeholder host of
// a group not bound yet, "(On any host of group masters: ...)".
func (p *Plan) onHosts(hosts []string) string {
	if len(hosts) == 0 {
		return ""
	}
	var real, groups []string
	for _, h := range hosts {
		if g, ok := p.placeholderOf[h]; ok {
			groups = append(groups, g)
		} else {
			real = append(real, escapeText(h))
		}
	}
	var parts []string
	if len(real) > 0 {
		const show = 5
		list := strings.Join(real[:min(len(real), show)], ", ")
		if len(real) > show {
			list += fmt.Sprintf(" and %d more", len(real)-show)
		}
		word := "host"
		if len(real) > 1 {
			word = "hosts"
		}
		parts = append(parts, fmt.Sprintf("On %s %s.", word, list))
	}
	for _, g := range groups {
		parts = append(parts, fmt.Sprintf("On any host of group %s: checked with a placeholder host until -H binds its hosts.", g))
	}
	return "(" + strings.Join(parts, " ") + ")"
}
