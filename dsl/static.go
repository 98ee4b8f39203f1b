package dsl

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/plan-dev/plan/internal/hostarg"
)

// hostArg is one host of a -H argument.
type hostArg struct {
	group string // "" = the first group declared
	user  string
	name  string
	port  int
	raw   string
}

// parseHostArgs splits -H arguments: "[GROUP=]HOST[,HOST...]" where HOST
// follows the one grammar of internal/hostarg ("[user@]name[:port]",
// "[user@][v6addr][:port]" or "vagrant:NAME"), shared with the hosts
// package so that both read the same text the same way.
func parseHostArgs(args []string) ([]hostArg, hcl.Diagnostics) {
	var out []hostArg
	var diags hcl.Diagnostics
	bad := func(raw, why string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid -H argument",
			Detail: fmt.Sprintf("-H %s: %s. The form is -H [GROUP=]HOST[,HOST...] where HOST is [user@]name[:port].", escapeText(raw), escapeText(why))})
	}
	for _, raw := range args {
		grp, list := "", raw
		if g, rest, ok := strings.Cut(raw, "="); ok {
			grp, list = strings.TrimSpace(g), rest
			if grp == "" || !validName(grp) {
				bad(raw, fmt.Sprintf("%q is not a group name", grp))
				continue
			}
		}
		if strings.TrimSpace(list) == "" {
			bad(raw, "no host given")
			continue
		}
		for _, one := range strings.Split(list, ",") {
			one = strings.TrimSpace(one)
			if one == "" {
				bad(raw, "empty host in the list")
				continue
			}
			h, err := hostarg.Parse(one)
			if err != nil {
				bad(raw, err.Error())
				continue
			}
			out = append(out, hostArg{group: grp, raw: raw, user: h.User, name: h.Name, port: h.Port})
		}
	}
	return out, append(diags, endpointConflicts(out)...)
}

// endpointConflicts refuses one name given with two different users or
// ports (-H web=127.0.0.1:2222,127.0.0.1:2200, a@h1,b@h1): they are two
// endpoints, and a plan host has one. Merging them would silently drop one.
func endpointConflicts(args []hostArg) hcl.Diagnostics {
	var diags hcl.Diagnostics
	first := map[string]hostArg{}
	reported := map[string]bool{}
	for _, a := range args {
		prev, seen := first[a.name]
		if !seen {
			first[a.name] = a
			continue
		}
		what := ""
		switch {
		case a.port != 0 && prev.port != 0 && a.port != prev.port:
			what = fmt.Sprintf("ports %d and %d", prev.port, a.port)
		case a.user != "" && prev.user != "" && a.user != prev.user:
			what = fmt.Sprintf("users %q and %q", prev.user, a.user)
		}
		if a.port != 0 && prev.port == 0 {
			prev.port = a.port
		}
		if a.user != "" && prev.user == "" {
			prev.user = a.user
		}
		first[a.name] = prev
		if what == "" || reported[a.name] {
			continue
		}
		reported[a.name] = true
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "One host name, two endpoints in -H",
			Detail: fmt.Sprintf("-H names %q with %s. A host is one endpoint, so these would be merged and one lost. "+
				"Give each its own name with a host block (host \"web1\" with address = %q and its user or port, host \"web2\" likewise), then -H GROUP=web1,web2.",
				escapeText(a.name), escapeText(what), escapeText(a.name))})
	}
	return diags
}

// staticItem is a local, host or group: the values that may refer to each
// other before any task is looked at.
type staticItem struct {
	key   string // "local.x", "host.x", "group.x"
	exprs []hcl.Expression
	rng   hcl.Range
}

// resolveStatic binds -H hosts, then evaluates locals, hosts and groups in
// dependency order.
func (p *Plan) resolveStatic() hcl.Diagnostics {
	args, diags := parseHostArgs(p.opts.Hosts)
	overrides := map[string]hostArg{}
	for _, a := range args {
		grpName := a.group
		if grpName == "" {
			g, d := p.defaultGroup(a.raw)
			if d != nil {
				diags = append(diags, d)
				continue
			}
			grpName = g
		}
		g, ok := p.groupByName[grpName]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown group in -H",
				Detail: fmt.Sprintf("-H %s: the plan declares no group %q.%s", a.raw, grpName, didYouMean(grpName, p.groupNames()))})
			continue
		}
		if a.name == "output" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reserved host name",
				Detail: fmt.Sprintf("-H %s: \"output\" cannot name a host: task.X.output is how outputs are read.", a.raw)})
			continue
		}
		h, declared := p.hostByName[a.name]
		if !declared {
			h = &Host{Name: a.name, Address: a.name, User: a.user, Port: a.port, Vars: map[string]string{},
				Range: cliRange("-H " + a.raw)}
			p.hosts = append(p.hosts, h)
			p.hostByName[a.name] = h
			p.hostVals[a.name] = hostValue(h)
		} else if _, inPlan := p.hostDecl[a.name]; !inPlan {
			// Named by an earlier -H: the later one fills or overrides.
			if a.user != "" {
				h.User = a.user
			}
			if a.port != 0 {
				h.Port = a.port
			}
			p.hostVals[a.name] = hostValue(h)
		} else if a.user != "" || a.port != 0 {
			prev := overrides[a.name]
			if a.user != "" {
				prev.user = a.user
			}
			if a.port != 0 {
				prev.port = a.port
			}
			overrides[a.name] = prev
		}
		if !containsHost(g.bound, h) {
			g.bound = append(g.bound, h)
		}
	}
	if diags.HasErrors() {
		return diags
	}
	if p.checkPass {
		p.bindPlaceholders()
	}

	items := map[string]*staticItem{}
	for name, l := range p.locals {
		items["local."+name] = &staticItem{key: "local." + name, exprs: []hcl.Expression{l.expr}, rng: l.rng}
	}
	for name, hd := range p.hostDecl {
		it := &staticItem{key: "host." + name, rng: hd.declRange}
		for _, a := range sortedAttrs(hd.attrs) {
			it.exprs = append(it.exprs, a.Expr)
		}
		items[it.key] = it
	}
	for _, g := range p.groups {
		it := &staticItem{key: "group." + g.name, rng: g.declRange}
		if g.hostsExpr != nil {
			it.exprs = append(it.exprs, g.hostsExpr)
		}
		items[it.key] = it
	}

	// Dependencies between items, checking every reference on the way.
	deps := map[string][]depEdge{}
	for _, key := range sortedKeys(items) {
		it := items[key]
		for _, e := range it.exprs {
			for _, tr := range e.Variables() {
				d, dep := p.checkStaticRef(tr)
				diags = append(diags, d...)
				if dep != "" {
					deps[key] = append(deps[key], depEdge{to: dep, rng: tr.SourceRange()})
				}
			}
		}
	}
	// A declared host bound to a group by -H is part of the group's value.
	for _, g := range p.groups {
		for _, h := range g.bound {
			if _, declared := p.hostDecl[h.Name]; declared {
				key := "group." + g.name
				deps[key] = append(deps[key], depEdge{to: "host." + h.Name, rng: g.declRange})
			}
		}
	}
	if diags.HasErrors() {
		return diags
	}
	order, cyc := topoOrder(sortedKeys(items), deps)
	if cyc != nil {
		return append(diags, cyc)
	}
	for _, key := range order {
		diags = append(diags, p.evalStaticItem(key, overrides)...)
	}
	if diags.HasErrors() {
		return diags
	}
	for _, g := range p.groups {
		for _, h := range g.hosts {
			h.Groups = append(h.Groups, g.name)
		}
	}
	p.static = p.staticVars()
	return diags
}

// defaultGroup is the group a bare -H HOST binds to: the first group
// declared. When groups are declared by more than one of the plan's
// arguments (mine.hcl scratch), "first" would depend on the order they are
// named in, so the user must say which.
func (p *Plan) defaultGroup(raw string) (string, *hcl.Diagnostic) {
	if len(p.groups) == 0 {
		return "", &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No group to bind -H hosts to",
			Detail: fmt.Sprintf("-H %s names no group and the plan declares none; declare a group or use a host block.", escapeText(raw))}
	}
	byArg := map[int][]string{}
	var args []int
	for _, g := range p.groups {
		i := p.fileArg[g.declRange.Filename]
		if _, ok := byArg[i]; !ok {
			args = append(args, i)
		}
		byArg[i] = append(byArg[i], g.name)
	}
	if len(args) > 1 {
		var where []string
		for _, i := range args {
			where = append(where, fmt.Sprintf("%s (%s)", p.argName(i), strings.Join(byArg[i], ", ")))
		}
		return "", &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Which group for -H?",
			Detail: fmt.Sprintf("-H %s names no group, and groups are declared in more than one of the plans named: %s. Say which, as in -H %s=%s.",
				escapeText(raw), strings.Join(where, "; "), p.groups[0].name, escapeText(raw))}
	}
	return p.groups[0].name, nil
}

// argName is how the user named path argument i.
func (p *Plan) argName(i int) string {
	if i >= 0 && i < len(p.paths) {
		return escapeText(p.paths[i])
	}
	return "?"
}

// bindPlaceholders puts one placeholder host in every group that declares
// no host and that -H did not fill (the check pass of Load).
func (p *Plan) bindPlaceholders() {
	for _, g := range p.groups {
		if g.hostsExpr != nil || len(g.bound) > 0 {
			continue
		}
		name := "<a host of " + g.name + ">"
		h := &Host{Name: name, Address: name, Vars: map[string]string{}, Range: g.declRange}
		p.hosts = append(p.hosts, h)
		p.hostByName[name] = h
		p.hostVals[name] = hostValue(h)
		p.placeholderOf[name] = g.name
		g.bound = append(g.bound, h)
	}
}

// evalDeferred evaluates a static expression; when that fails, and some
// group is not bound yet, it evaluates it again with the hosts of those
// groups unknown (group.masters.hosts[0] of an empty group is an error,
// of a group not bound yet an unknown host). ok is false when the value
// is not known for that reason.
func (p *Plan) evalDeferred(expr hcl.Expression, filename string, extra map[string]cty.Value) (v cty.Value, diags hcl.Diagnostics, known bool) {
	ctx := p.staticContext(filename)
	for k, x := range extra {
		ctx.Variables[k] = x
	}
	v, diags = expr.Value(ctx)
	if !diags.HasErrors() {
		uv, _ := v.UnmarkDeep()
		return v, diags, uv.IsWhollyKnown()
	}
	if len(p.Unbound()) == 0 {
		return v, diags, true
	}
	vars := p.unknownVars()
	for k, x := range extra {
		vars[k] = x
	}
	uv, d := expr.Value(&hcl.EvalContext{Variables: vars, Functions: p.functions(filename)})
	if d.HasErrors() {
		return v, diags, true
	}
	return uv, d, false
}

// unknownVars are the static variables with the hosts of every group not
// bound yet unknown.
func (p *Plan) unknownVars() map[string]cty.Value {
	vars := p.staticVars()
	groups := map[string]cty.Value{}
	for _, g := range p.groups {
		hosts := hostList(g.hosts)
		if g.deferred() {
			hosts = cty.UnknownVal(cty.List(hostType))
		}
		groups[g.name] = cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(g.name), "hosts": hosts})
	}
	vars["group"] = objectOf(groups)
	return vars
}

// unboundHint tells how to bind the groups not bound yet.
func (p *Plan) unboundHint() string {
	ub := p.Unbound()
	if len(ub) == 0 {
		return ""
	}
	return fmt.Sprintf(" It depends on hosts not known yet: bind them with -H %s=HOST[,HOST...] (groups without hosts: %s).", ub[0], strings.Join(ub, ", "))
}

func containsHost(hs []*Host, h *Host) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// checkStaticRef checks a reference made where only var, local, host and
// group exist, and returns the static item it depends on ("" for var).
func (p *Plan) checkStaticRef(tr hcl.Traversal) (hcl.Diagnostics, string) {
	root := tr.RootName()
	switch root {
	case "var", "local", "host", "group":
		name, ok := attrAt(tr, 1)
		if !ok {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference",
				Detail: fmt.Sprintf("A reference to %s needs a name after it, as in %s.NAME.", root, root), Subject: tr.SourceRange().Ptr()}}, ""
		}
		if d := p.checkDeclared(root, name, tr); d != nil {
			return hcl.Diagnostics{d}, ""
		}
		if root == "var" {
			return nil, ""
		}
		if root == "host" {
			if _, declared := p.hostDecl[name]; !declared {
				return nil, "" // a -H host: already known
			}
		}
		return nil, root + "." + name
	case "target", "step", "task":
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference",
			Detail:  fmt.Sprintf("%s is not available here: locals, hosts and groups are evaluated before any task, so they may refer only to var, local, host and group.", root),
			Subject: tr.SourceRange().Ptr()}}, ""
	}
	return hcl.Diagnostics{unknownRootDiag(tr, []string{"var", "local", "host", "group"})}, ""
}

// checkDeclared reports a reference to an undeclared var/local/host/group.
func (p *Plan) checkDeclared(root, name string, tr hcl.Traversal) *hcl.Diagnostic {
	var names []string
	var found bool
	switch root {
	case "var":
		_, found = p.varByName[name]
		names = p.varNames()
	case "local":
		_, found = p.locals[name]
		names = sortedKeys(p.locals)
	case "host":
		_, found = p.hostByName[name]
		names = sortedKeys(p.hostByName)
	case "group":
		_, found = p.groupByName[name]
		names = p.groupNames()
	case "task":
		_, found = p.taskByName[name]
		names = sortedKeys(p.taskByName)
	}
	if found {
		return nil
	}
	what := map[string]string{"var": "variable", "local": "local value", "host": "host", "group": "group", "task": "task"}[root]
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Reference to undeclared " + what,
		Detail:   fmt.Sprintf("The plan declares no %s named %q.%s", what, name, didYouMean(name, names)),
		Subject:  tr.SourceRange().Ptr(),
	}
}

func unknownRootDiag(tr hcl.Traversal, allowed []string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unknown variable",
		Detail: fmt.Sprintf("There is no variable named %q here; the names available are %s.%s",
			tr.RootName(), strings.Join(allowed, ", "), didYouMean(tr.RootName(), allowed)),
		Subject: tr.SourceRange().Ptr(),
	}
}

// attrAt returns the name of the attribute (or string index) at position
// i of a traversal.
func attrAt(tr hcl.Traversal, i int) (string, bool) {
	if len(tr) <= i {
		return "", false
	}
	switch s := tr[i].(type) {
	case hcl.TraverseAttr:
		return s.Name, true
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
			return s.Key.AsString(), true
		}
	}
	return "", false
}

func (p *Plan) groupNames() []string {
	out := make([]string, len(p.groups))
	for i, g := range p.groups {
		out[i] = g.name
	}
	return out
}

func (p *Plan) evalStaticItem(key string, overrides map[string]hostArg) hcl.Diagnostics {
	kind, name, _ := strings.Cut(key, ".")
	switch kind {
	case "local":
		l := p.locals[name]
		v, diags, _ := p.evalDeferred(l.expr, l.rng.Filename, nil)
		if diags.HasErrors() {
			p.localVals[name] = cty.DynamicVal
			return diags
		}
		collectSecrets(v, p.secrets)
		p.localVals[name] = v
		return diags
	case "host":
		return p.evalHost(name, overrides)
	case "group":
		return p.evalGroup(name)
	}
	return nil
}

func (p *Plan) evalHost(name string, overrides map[string]hostArg) hcl.Diagnostics {
	hd := p.hostDecl[name]
	h := p.hostByName[name]
	var diags hcl.Diagnostics
	for _, a := range sortedAttrs(hd.attrs) {
		v, d, known := p.evalDeferred(a.Expr, hd.declRange.Filename, nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if !known {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid host " + a.Name,
				Detail: "A host's " + a.Name + " must be known before anything runs." + p.unboundHint(), Subject: a.Expr.Range().Ptr()})
			continue
		}
		if v.IsNull() {
			continue
		}
		var err error
		switch a.Name {
		case "address":
			h.Address, err = asString(v)
			if err == nil && h.Address != "" {
				err = hostarg.Validate(h.Address, "")
			}
		case "user":
			h.User, err = asString(v)
			if err == nil && h.User != "" {
				err = hostarg.Validate("", h.User)
			}
		case "port":
			h.Port, err = asInt(v)
			if err == nil && (h.Port < 1 || h.Port > 65535) {
				err = fmt.Errorf("port %d is out of range 1-65535", h.Port)
			}
		case "vars":
			var mv cty.Value
			mv, err = convertTo(v, cty.Map(cty.String))
			if err == nil {
				mv, _ = mv.UnmarkDeep()
				if !mv.IsWhollyKnown() {
					err = fmt.Errorf("the value is not known until run time")
				} else {
					for k, ev := range mv.AsValueMap() {
						if !ev.IsNull() {
							h.Vars[k] = ev.AsString()
						}
					}
				}
			}
		}
		if err != nil {
			diags = append(diags, attrDiag(a, "Invalid host "+a.Name, err))
		}
	}
	if o, ok := overrides[name]; ok {
		if o.user != "" {
			h.User = o.user
		}
		if o.port != 0 {
			h.Port = o.port
		}
	}
	p.hostVals[name] = hostValue(h)
	return diags
}

func (p *Plan) evalGroup(name string) hcl.Diagnostics {
	g := p.groupByName[name]
	var diags hcl.Diagnostics
	if g.hostsExpr != nil {
		v, d, known := p.evalDeferred(g.hostsExpr, g.declRange.Filename, nil)
		diags = append(diags, d...)
		if !known && !d.HasErrors() {
			g.unknown = true
		} else if !d.HasErrors() {
			hs, d := p.hostsFromValue(v, g.hostsExpr.Range(), "hosts")
			diags = append(diags, d...)
			g.hosts = hs
		}
	}
	for _, h := range g.bound {
		if !containsHost(g.hosts, h) {
			g.hosts = append(g.hosts, h)
		}
	}
	return diags
}

// hostsFromValue turns the value of `on` or a group's `hosts` into hosts:
// a host (host.X, target), a host name, or a list/set/tuple of those.
// Duplicates are dropped, order kept.
func (p *Plan) hostsFromValue(v cty.Value, rng hcl.Range, attr string) ([]*Host, hcl.Diagnostics) {
	v, _ = v.UnmarkDeep()
	bad := func(why string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + attr,
			Detail:  fmt.Sprintf("%s must be a host (host.NAME), a list of hosts (group.NAME.hosts) or host names; %s.", attr, why),
			Subject: rng.Ptr()}}
	}
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsWhollyKnown() {
		return nil, bad("this value is only known at run time, but hosts must be known before anything runs")
	}
	var out []*Host
	var one func(e cty.Value) hcl.Diagnostics
	one = func(e cty.Value) hcl.Diagnostics {
		if e.IsNull() {
			return nil
		}
		var name string
		ty := e.Type()
		switch {
		case ty == cty.String:
			name = e.AsString()
		case ty.IsObjectType() && ty.HasAttribute("name") && ty.AttributeType("name") == cty.String:
			name = e.GetAttr("name").AsString()
		case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
			for it := e.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				if d := one(ev); d.HasErrors() {
					return d
				}
			}
			return nil
		default:
			return bad(fmt.Sprintf("got %s", ty.FriendlyName()))
		}
		h, ok := p.hostByName[name]
		if !ok {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown host in " + attr,
				Detail:  fmt.Sprintf("The plan has no host named %q.%s", name, didYouMean(name, sortedKeys(p.hostByName))),
				Subject: rng.Ptr()}}
		}
		if !containsHost(out, h) {
			out = append(out, h)
		}
		return nil
	}
	diags := one(v)
	return out, diags
}

// staticContext is the evaluation context of static expressions: var,
// local, host and group, plus the functions bound to the directory of the
// file the expression is in.
func (p *Plan) staticContext(filename string) *hcl.EvalContext {
	return &hcl.EvalContext{Variables: p.staticVars(), Functions: p.functions(filename)}
}

// staticVars returns a fresh map of the static variables; once the static
// phase is done it copies the frozen values instead of rebuilding them.
func (p *Plan) staticVars() map[string]cty.Value {
	if p.static != nil {
		out := make(map[string]cty.Value, len(p.static)+3)
		for k, v := range p.static {
			out[k] = v
		}
		return out
	}
	groups := map[string]cty.Value{}
	for _, g := range p.groups {
		groups[g.name] = cty.ObjectVal(map[string]cty.Value{
			"name":  cty.StringVal(g.name),
			"hosts": hostList(g.hosts),
		})
	}
	return map[string]cty.Value{
		"var":   objectOf(p.varVals),
		"local": objectOf(p.localVals),
		"host":  objectOf(p.hostVals),
		"group": objectOf(groups),
	}
}

func objectOf(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// depEdge is a dependency from an item to another, at the reference.
type depEdge struct {
	to  string
	rng hcl.Range
}

// topoOrder orders keys so that every key comes after its dependencies,
// keeping the given order where it is free. A cycle gives one diagnostic
// listing each edge of the cycle with the location of the reference.
func topoOrder(keys []string, deps map[string][]depEdge) ([]string, *hcl.Diagnostic) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order []string
	var stack []string
	var stackEdges []depEdge
	var visit func(k string) *hcl.Diagnostic
	visit = func(k string) *hcl.Diagnostic {
		state[k] = visiting
		stack = append(stack, k)
		for _, e := range deps[k] {
			switch state[e.to] {
			case visiting:
				stackEdges = append(stackEdges, e)
				return cycleDiag(stack, stackEdges, e.to)
			case unvisited:
				stackEdges = append(stackEdges, e)
				if d := visit(e.to); d != nil {
					return d
				}
				stackEdges = stackEdges[:len(stackEdges)-1]
			}
		}
		stack = stack[:len(stack)-1]
		state[k] = done
		order = append(order, k)
		return nil
	}
	for _, k := range keys {
		if state[k] == unvisited {
			if d := visit(k); d != nil {
				return nil, d
			}
		}
	}
	return order, nil
}

func cycleDiag(stack []string, edges []depEdge, back string) *hcl.Diagnostic {
	start := 0
	for i, k := range stack {
		if k == back {
			start = i
		}
	}
	var lines []string
	cyc := stack[start:]
	es := edges[start:]
	for i, k := range cyc {
		lines = append(lines, fmt.Sprintf("  %s -> %s (%s)", k, es[i].to, es[i].rng))
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Dependency cycle",
		Detail:   "These references form a cycle:\n" + strings.Join(lines, "\n"),
		Subject:  es[0].rng.Ptr(),
	}
}
