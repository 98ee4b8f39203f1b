package dsl

import (
	"fmt"

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
			uv, _ := v.UnmarkDeep()
			unknown := cty.UnknownVal(uv.Type())
			if isSensitive(v) {
				unknown = unknown.Mark(Sensitive)
			}
			info.checkOutputs[o.name] = unknown
		}
		for k, v := range ev.reads {
			info.reads[k] = v
		}
	}
	if len(diags) > 0 && !diags.HasErrors() {
		return diags
	}
	for _, d := range diags {
		if d.Subject == nil {
			d.Detail = fmt.Sprintf("%s (found by the offline type check)", d.Detail)
		}
	}
	return diags
}
