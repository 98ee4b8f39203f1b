package dsl

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "locals"},
	{Type: "host", LabelNames: []string{"name"}},
	{Type: "group", LabelNames: []string{"name"}},
	{Type: "task", LabelNames: []string{"name"}},
}}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "condition", Required: true}, {Name: "error_message", Required: true},
}}

var hostSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "address"}, {Name: "user"}, {Name: "port"}, {Name: "vars"},
}}

var groupSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "hosts"}}}

type variable struct {
	name        string
	typ         cty.Type
	def         cty.Value // cty.NilVal when no default
	description string
	sensitive   bool
	validations []validation
	declRange   hcl.Range
}

type validation struct {
	condition    hcl.Expression
	errorMessage hcl.Expression
	rng          hcl.Range
}

type local struct {
	name string
	expr hcl.Expression
	rng  hcl.Range
}

type hostDecl struct {
	name      string
	attrs     hcl.Attributes
	declRange hcl.Range
}

type group struct {
	name      string
	hostsExpr hcl.Expression // nil when the block has no hosts
	declRange hcl.Range
	hosts     []*Host
	bound     []*Host // from -H, appended after the declared ones
	// unknown: the group's hosts depend on a group not bound yet, so they
	// are not known until -H binds it.
	unknown bool
}

// deferred reports whether the group's hosts are not known yet: it
// declares none and -H bound none (a group filled only by -H), or it is
// made from such a group.
func (g *group) deferred() bool {
	return (g.hostsExpr == nil && len(g.bound) == 0) || g.unknown
}

// validName reports whether s can be used as a block label that expressions
// refer to (var.NAME, task.NAME, ...).
func validName(s string) bool {
	return hclsyntax.ValidIdentifier(s)
}

func labelDiag(kind string, b *hcl.Block) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s name", kind),
		Detail: fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.",
			b.Labels[0]),
		Subject: b.LabelRanges[0].Ptr(),
	}
}

func dupDiag(kind, name string, prev hcl.Range, b *hcl.Block) *hcl.Diagnostic {
	scope := "across all files of a plan"
	if kind == "step" || kind == "output" {
		scope = "within a task"
	}
	article := "A"
	if strings.ContainsAny(kind[:1], "aeiou") {
		article = "An"
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s %q", kind, name),
		Detail:   fmt.Sprintf("%s %s named %q was already declared at %s. Names must be unique %s.", article, kind, name, prev, scope),
		Subject:  b.LabelRanges[0].Ptr(),
	}
}

// decodeTopLevel reads every top-level block of every file, in file order.
func (p *Plan) decodeTopLevel() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range p.fileOrder {
		content, d := p.files[name].Body.Content(rootSchema)
		diags = append(diags, d...)
		for _, b := range content.Blocks {
			if len(b.Labels) > 0 && !validName(b.Labels[0]) {
				diags = append(diags, labelDiag(b.Type, b))
				continue
			}
			switch b.Type {
			case "variable":
				diags = append(diags, p.decodeVariable(b)...)
			case "locals":
				diags = append(diags, p.decodeLocals(b)...)
			case "host":
				diags = append(diags, p.decodeHost(b)...)
			case "group":
				diags = append(diags, p.decodeGroup(b)...)
			case "task":
				diags = append(diags, p.decodeTask(b)...)
			}
		}
	}
	return diags
}

func (p *Plan) decodeVariable(b *hcl.Block) hcl.Diagnostics {
	name := b.Labels[0]
	if prev, dup := p.varByName[name]; dup {
		return hcl.Diagnostics{dupDiag("variable", name, prev.declRange, b)}
	}
	content, diags := b.Body.Content(variableSchema)
	v := &variable{name: name, typ: cty.DynamicPseudoType, declRange: b.DefRange}
	if a, ok := content.Attributes["type"]; ok {
		ty, d := typeexpr.TypeConstraint(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.typ = ty
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			s, err := asString(val)
			if err != nil {
				diags = append(diags, attrDiag(a, "Invalid description", err))
			}
			v.description = s
		}
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			bv, err := asBool(val)
			if err != nil {
				diags = append(diags, attrDiag(a, "Invalid sensitive", err))
			}
			v.sensitive = bv
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		val, d := a.Expr.Value(&hcl.EvalContext{Functions: p.functions(b.DefRange.Filename)})
		diags = append(diags, d...)
		if !d.HasErrors() {
			if v.sensitive {
				// Known before conversion, so that even a diagnostic about
				// this very default cannot show it.
				collectSecrets(val.Mark(Sensitive), p.secrets)
			}
			cv, err := convertTo(val, v.typ)
			if err != nil {
				diags = append(diags, attrDiag(a, "Invalid default value for variable", err))
			} else {
				v.def = cv
			}
		}
	}
	for _, vb := range content.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		v.validations = append(v.validations, validation{
			condition:    vc.Attributes["condition"].Expr,
			errorMessage: vc.Attributes["error_message"].Expr,
			rng:          vb.DefRange,
		})
	}
	p.vars = append(p.vars, v)
	p.varByName[name] = v
	return diags
}

func (p *Plan) decodeLocals(b *hcl.Block) hcl.Diagnostics {
	attrs, diags := b.Body.JustAttributes()
	for _, a := range sortedAttrs(attrs) {
		if prev, dup := p.locals[a.Name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate local %q", a.Name),
				Detail:   fmt.Sprintf("local.%s was already defined at %s.", a.Name, prev.rng),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		p.locals[a.Name] = &local{name: a.Name, expr: a.Expr, rng: a.NameRange}
	}
	return diags
}

func (p *Plan) decodeHost(b *hcl.Block) hcl.Diagnostics {
	name := b.Labels[0]
	if prev, dup := p.hostDecl[name]; dup {
		return hcl.Diagnostics{dupDiag("host", name, prev.declRange, b)}
	}
	if name == "output" {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reserved host name",
			Detail: `"output" cannot name a host: task.X.output is how outputs are read.`, Subject: b.LabelRanges[0].Ptr()}}
	}
	content, diags := b.Body.Content(hostSchema)
	d := &hostDecl{name: name, attrs: content.Attributes, declRange: b.DefRange}
	p.hostDecl[name] = d
	h := &Host{Name: name, Range: b.DefRange, Vars: map[string]string{}}
	p.hosts = append(p.hosts, h)
	p.hostByName[name] = h
	return diags
}

func (p *Plan) decodeGroup(b *hcl.Block) hcl.Diagnostics {
	name := b.Labels[0]
	if prev, dup := p.groupByName[name]; dup {
		return hcl.Diagnostics{dupDiag("group", name, prev.declRange, b)}
	}
	content, diags := b.Body.Content(groupSchema)
	g := &group{name: name, declRange: b.DefRange}
	if a, ok := content.Attributes["hosts"]; ok {
		g.hostsExpr = a.Expr
	}
	p.groups = append(p.groups, g)
	p.groupByName[name] = g
	return diags
}

func attrDiag(a *hcl.Attribute, summary string, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   capitalize(err.Error()) + ".",
		Subject:  a.Expr.Range().Ptr(),
	}
}
