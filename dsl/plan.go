package dsl

import "github.com/hashicorp/hcl/v2"

// Plan is a loaded, statically checked plan.
// TEMPORARY STUB: replaced by the dsl implementation.
type Plan struct {
	hosts []*Host
	nodes []*Node
	files map[string]*hcl.File
}

// Load parses and checks the plan made of paths.
func Load(paths []string, opts Options) (*Plan, hcl.Diagnostics) {
	return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "dsl: not implemented"}}
}

func (p *Plan) Hosts() []*Host              { return p.hosts }
func (p *Plan) Nodes() []*Node              { return p.nodes }
func (p *Plan) Files() map[string]*hcl.File { return p.files }
func (p *Plan) Secrets() []string           { return nil }
func (p *Plan) Evaluator(n *Node, up Upstream) (Evaluator, hcl.Diagnostics) {
	return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "dsl: not implemented"}}
}
