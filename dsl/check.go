package dsl

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// typeCheck evaluates every node in graph order with typed unknowns for
// run-time values, so that type errors show up before anything runs.
// Diagnostics repeated by several nodes of one task are reported once.
func (p *Plan) typeCheck() hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	add := func(ds hcl.Diagnostics) {
		for _, d := range ds {
			key := d.Summary + "\x00" + d.Detail
			if d.Subject != nil {
				key += "\x00" + d.Subject.String()
			}
			if !seen[key] {
				seen[key] = true
				diags = append(diags, d)
			}
		}
	}
	for _, n := range p.nodes {
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
