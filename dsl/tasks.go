package dsl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var taskSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "on", Required: true}, {Name: "depends_on"}, {Name: "sudo"}, {Name: "env"},
		{Name: "timeout"}, {Name: "when"}, {Name: "description"}, {Name: "for_each"},
		{Name: "serial"}, {Name: "max_fail_percentage"}, {Name: "always_run"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "retry"},
		{Type: "run", LabelNames: []string{"name"}},
		{Type: "script", LabelNames: []string{"name"}},
		{Type: "file", LabelNames: []string{"name"}},
		{Type: "fetch", LabelNames: []string{"name"}},
		{Type: "reboot", LabelNames: []string{"name"}},
		{Type: "output", LabelNames: []string{"name"}},
	},
}

var retrySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "attempts"}, {Name: "delay"}}}

var outputSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "value", Required: true}, {Name: "sensitive"}, {Name: "description"},
}}

// commonStepAttrs are accepted by every step kind.
var commonStepAttrs = []hcl.AttributeSchema{
	{Name: "for_each"}, {Name: "when"}, {Name: "creates"}, {Name: "unless"}, {Name: "sudo"}, {Name: "env"}, {Name: "timeout"},
}

var stepSchemas = map[StepKind]*hcl.BodySchema{
	StepRun:    stepSchema(hcl.AttributeSchema{Name: "command", Required: true}, hcl.AttributeSchema{Name: "changed"}),
	StepScript: stepSchema(hcl.AttributeSchema{Name: "content"}, hcl.AttributeSchema{Name: "source"}, hcl.AttributeSchema{Name: "interpreter"}, hcl.AttributeSchema{Name: "changed"}),
	StepFile: stepSchema(hcl.AttributeSchema{Name: "destination", Required: true}, hcl.AttributeSchema{Name: "content"},
		hcl.AttributeSchema{Name: "source"}, hcl.AttributeSchema{Name: "mode"}, hcl.AttributeSchema{Name: "owner"},
		hcl.AttributeSchema{Name: "group"}),
	StepFetch:  stepSchema(hcl.AttributeSchema{Name: "source", Required: true}, hcl.AttributeSchema{Name: "destination"}),
	StepReboot: stepSchema(),
}

func stepSchema(own ...hcl.AttributeSchema) *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: append(append([]hcl.AttributeSchema{}, commonStepAttrs...), own...),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "retry"}},
	}
}

type task struct {
	name       string
	declRange  hcl.Range // `task "name"` header
	typeRange  hcl.Range
	filename   string
	attrs      hcl.Attributes
	retry      *retryDecl
	steps      []*stepDecl
	stepByName map[string]*stepDecl
	outputs    []*outputDecl
	outByName  map[string]*outputDecl
	dependsOn  []taskRef
	srcHash    string

	hosts    []*Host   // from `on`
	refs     []taskRef // every reference to another task, in source order
	index    int       // declaration order
	onFailed bool      // `on` could not be evaluated: its hosts are unknown
	// onUnknown: `on` needs a group that -H has not bound yet, so the
	// task has no node until it is (not an error).
	onUnknown bool

	// for_each: forEach is the declaration's expression; such a task is
	// a template that never runs itself. Its instances have base (the
	// label), key and each (each.key, each.value) and name base["key"].
	forEach   hcl.Expression
	instances []*task
	// instancesUnknown: for_each needs a group not bound yet.
	instancesUnknown bool
	base             string
	key              string
	each             cty.Value
}

type stepDecl struct {
	kind      StepKind
	name      string
	index     int
	attrs     hcl.Attributes
	retry     *retryDecl
	declRange hcl.Range

	// for_each: forEach is the expression of the declaration; once
	// expanded, each instance has base (the label), key and value (each.key,
	// each.value) and name base["key"].
	forEach hcl.Expression
	base    string
	key     string
	value   cty.Value
}

// instance reports whether the step is one instance of a for_each step.
func (s *stepDecl) instance() bool { return s.base != "" }

type retryDecl struct {
	attrs hcl.Attributes
	rng   hcl.Range
}

type outputDecl struct {
	name      string
	value     hcl.Expression
	sensitive hcl.Expression
	declRange hcl.Range
}

// taskRef is a reference from a task body to another task.
type taskRef struct {
	task     string
	host     string // task.X["host"]: the host named, else ""
	output   string // the output read, "" for a bare task.X (depends_on)
	explicit bool   // from depends_on
	// allHosts: a bare task.X inside an expression, typically indexed with a
	// computed key (task.X[target.name], [for h in ... : task.X[h.name]]).
	// Which node is read is known only late, so the node waits for every
	// node of X and sees all of their outputs.
	allHosts bool
	rng      hcl.Range
}

func (p *Plan) decodeTask(b *hcl.Block) hcl.Diagnostics {
	name := b.Labels[0]
	if prev, dup := p.taskByName[name]; dup {
		return hcl.Diagnostics{dupDiag("task", name, prev.declRange, b)}
	}
	content, diags := b.Body.Content(taskSchema)
	t := &task{
		name: name, declRange: b.DefRange, typeRange: b.TypeRange, filename: b.DefRange.Filename,
		attrs: content.Attributes, stepByName: map[string]*stepDecl{}, outByName: map[string]*outputDecl{},
		index: len(p.tasks),
	}
	if f, ok := p.files[t.filename]; ok {
		if syn, ok := b.Body.(interface{ Range() hcl.Range }); ok {
			r := hcl.RangeBetween(b.DefRange, syn.Range())
			if r.End.Byte <= len(f.Bytes) && r.Start.Byte <= r.End.Byte {
				sum := sha256.Sum256(f.Bytes[r.Start.Byte:r.End.Byte])
				t.srcHash = hex.EncodeToString(sum[:])
			}
		}
	}
	if fe, ok := t.attrs["for_each"]; ok {
		t.forEach = fe.Expr
		delete(t.attrs, "for_each")
	}
	if _, ok := t.attrs["on"]; !ok {
		t.attrs["on"] = &hcl.Attribute{Name: "on", Expr: hcl.StaticExpr(cty.NullVal(cty.DynamicPseudoType), b.DefRange), Range: b.DefRange}
	}
	names := map[string]hcl.Range{}
	for _, sb := range content.Blocks {
		if len(sb.Labels) > 0 && !validName(sb.Labels[0]) {
			diags = append(diags, labelDiag(sb.Type, sb))
			continue
		}
		switch sb.Type {
		case "retry":
			if t.retry != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate retry block",
					Detail: fmt.Sprintf("A task has at most one retry block; the first is at %s.", t.retry.rng), Subject: sb.DefRange.Ptr()})
				continue
			}
			rc, d := sb.Body.Content(retrySchema)
			diags = append(diags, d...)
			t.retry = &retryDecl{attrs: rc.Attributes, rng: sb.DefRange}
		case "output":
			oc, d := sb.Body.Content(outputSchema)
			diags = append(diags, d...)
			oname := sb.Labels[0]
			if prev, dup := t.outByName[oname]; dup {
				diags = append(diags, dupDiag("output", oname, prev.declRange, sb))
				continue
			}
			if d.HasErrors() {
				continue
			}
			o := &outputDecl{name: oname, value: oc.Attributes["value"].Expr, declRange: sb.DefRange}
			if a, ok := oc.Attributes["sensitive"]; ok {
				o.sensitive = a.Expr
			}
			t.outputs = append(t.outputs, o)
			t.outByName[oname] = o
		default:
			kind := StepKind(sb.Type)
			sname := sb.Labels[0]
			if prev, dup := names[sname]; dup {
				diags = append(diags, dupDiag("step", sname, prev, sb))
				continue
			}
			names[sname] = sb.DefRange
			sc, d := sb.Body.Content(stepSchemas[kind])
			diags = append(diags, d...)
			s := &stepDecl{kind: kind, name: sname, index: len(t.steps), attrs: sc.Attributes, declRange: sb.DefRange}
			if fe, ok := s.attrs["for_each"]; ok {
				s.forEach = fe.Expr
				delete(s.attrs, "for_each")
			}
			for _, rb := range sc.Blocks {
				rc, d := rb.Body.Content(retrySchema)
				diags = append(diags, d...)
				s.retry = &retryDecl{attrs: rc.Attributes, rng: rb.DefRange}
			}
			diags = append(diags, checkStepShape(s)...)
			t.steps = append(t.steps, s)
			t.stepByName[sname] = s
		}
	}
	if a, ok := t.attrs["depends_on"]; ok {
		exprs, d := hcl.ExprList(a.Expr)
		if d.HasErrors() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on",
				Detail: "depends_on is a list of tasks, as in [task.a, task.b].", Subject: a.Expr.Range().Ptr()})
		}
		for _, e := range exprs {
			tr, d := hcl.AbsTraversalForExpr(e)
			name, okName := attrAt(tr, 1)
			host, okHost := "", len(tr) == 2
			if len(tr) == 3 {
				if _, isIndex := tr[2].(hcl.TraverseIndex); isIndex {
					host, okHost = attrAt(tr, 2)
				}
			}
			if d.HasErrors() || tr.RootName() != "task" || !okName || !okHost {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid depends_on",
					Detail: "Each element of depends_on must be a task, as in task.NAME, or one of its nodes, as in task.NAME[\"host\"].", Subject: e.Range().Ptr()})
				continue
			}
			t.dependsOn = append(t.dependsOn, taskRef{task: name, host: host, explicit: true, rng: tr.SourceRange()})
		}
	}
	p.tasks = append(p.tasks, t)
	p.taskByName[name] = t
	return diags
}

// checkStepShape checks the attributes a step kind needs together.
func checkStepShape(s *stepDecl) hcl.Diagnostics {
	_, hasContent := s.attrs["content"]
	_, hasSource := s.attrs["source"]
	switch s.kind {
	case StepScript, StepFile:
		if hasContent == hasSource {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid %s step", s.kind),
				Detail:  fmt.Sprintf("A %s step needs exactly one of content (the text itself) and source (a local file).", s.kind),
				Subject: s.declRange.Ptr()}}
		}
	}
	return nil
}

// expandTasks evaluates every task's `on` and checks every reference in
// every task body.
func (p *Plan) expandTasks() hcl.Diagnostics {
	diags := p.expandTaskInstances()
	if diags.HasErrors() {
		return diags
	}
	for _, t := range p.tasks {
		on := t.attrs["on"]
		okRefs := true
		for _, tr := range on.Expr.Variables() {
			if tr.RootName() == "each" && t.instance() {
				continue
			}
			d, _ := p.checkStaticRef(tr)
			if d.HasErrors() {
				okRefs = false
				for _, di := range d {
					if di.Summary == "Invalid reference" {
						di.Detail = fmt.Sprintf("on must be known before anything runs, so it may refer only to var, local, host and group, not %s.", tr.RootName())
					}
				}
			}
			diags = append(diags, d...)
		}
		t.onFailed = true
		if !okRefs {
			continue
		}
		v, d, known := p.evalDeferred(on.Expr, t.filename, t.eachVars())
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if !known {
			t.onUnknown, t.onFailed = true, false
			continue
		}
		if v.IsNull() && on.Range != t.declRange {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid on",
				Detail:  "on is null; it must name the hosts the task runs on (write [] for none).",
				Subject: on.Expr.Range().Ptr()})
			continue
		}
		hs, d := p.hostsFromValue(v, on.Expr.Range(), "on")
		diags = append(diags, d...)
		t.hosts = hs
		t.onFailed = d.HasErrors()
	}
	for _, t := range p.tasks {
		diags = append(diags, p.checkTaskRefs(t)...)
	}
	// The instances of one for_each task repeat its mistakes: once each.
	diags = dedupDiags(diags)
	if diags.HasErrors() {
		return diags
	}
	for _, t := range p.tasks {
		diags = append(diags, p.expandSteps(t)...)
	}
	return diags
}

// maxInstances bounds the instances of one for_each (task or step).
const maxInstances = 1000

// forEachKeys reads a for_each value: a map or object gives its keys and
// values, a set or list of strings its strings. why says what is wrong.
func forEachKeys(v cty.Value, what string) (map[string]cty.Value, string) {
	if isSensitive(v) {
		return nil, "it is sensitive, and its keys would name " + what + " in every output."
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return nil, "it is null."
	}
	keys := map[string]cty.Value{}
	ty := v.Type()
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		for k, e := range v.AsValueMap() {
			keys[k] = e
		}
	case ty.IsSetType() || ty.IsListType() || ty.IsTupleType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			sv, err := convertTo(e, cty.String)
			if err != nil || sv.IsNull() {
				return nil, "an element is not a string."
			}
			if _, dup := keys[sv.AsString()]; dup {
				return nil, fmt.Sprintf("%q is in it twice.", sv.AsString())
			}
			keys[sv.AsString()] = sv
		}
	default:
		return nil, fmt.Sprintf("got %s.", ty.FriendlyName())
	}
	if len(keys) > maxInstances {
		return nil, fmt.Sprintf("it has %d keys; at most %d are allowed.", len(keys), maxInstances)
	}
	return keys, ""
}

// instance reports whether the task is one instance of a for_each task.
func (t *task) instance() bool { return t.base != "" }

// eachVars is {each = {key, value}} for an instance, else nil.
func (t *task) eachVars() map[string]cty.Value {
	if !t.instance() {
		return nil
	}
	return map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(t.key), "value": t.each})}
}

// expandTaskInstances replaces every for_each task by one instance per
// key, named TASK["key"]: each is a task of its own (nodes TASK["key"][HOST],
// --only TASK["key"]), with each.key and each.value anywhere in its body.
// The template stays in taskByName, for references to task.TASK.
func (p *Plan) expandTaskInstances() hcl.Diagnostics {
	var diags hcl.Diagnostics
	var out []*task
	for _, t := range p.tasks {
		if t.forEach == nil {
			out = append(out, t)
			continue
		}
		okRefs := true
		for _, tr := range t.forEach.Variables() {
			d, _ := p.checkStaticRef(tr)
			for _, di := range d {
				if di.Summary == "Invalid reference" {
					di.Detail = fmt.Sprintf("for_each must be known before anything runs, so it may refer only to var, local, host and group, not %s.", tr.RootName())
				}
			}
			okRefs = okRefs && !d.HasErrors()
			diags = append(diags, d...)
		}
		if !okRefs {
			continue
		}
		v, d, known := p.evalDeferred(t.forEach, t.filename, nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if !known {
			t.instancesUnknown = true
			continue
		}
		keys, why := forEachKeys(v, "tasks")
		if why != "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each",
				Detail:  "for_each must be a map or object, or a set or list of strings, known before anything runs; " + why,
				Subject: t.forEach.Range().Ptr()})
			continue
		}
		for _, k := range sortedKeys(keys) {
			inst := *t
			inst.forEach = nil
			inst.base, inst.key, inst.each = t.name, k, keys[k]
			inst.name = fmt.Sprintf("%s[%q]", t.name, k)
			inst.stepByName = map[string]*stepDecl{}
			for n, sd := range t.stepByName {
				inst.stepByName[n] = sd
			}
			inst.refs = nil
			out = append(out, &inst)
			t.instances = append(t.instances, &inst)
			p.taskByName[inst.name] = &inst
		}
	}
	for i, t := range out {
		t.index = i
	}
	p.tasks = out
	return diags
}

// dedupDiags drops diagnostics equal to an earlier one.
func dedupDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	var out hcl.Diagnostics
	for _, d := range diags {
		k := d.Summary + "\x00" + d.Detail
		if d.Subject != nil {
			k += "\x00" + d.Subject.String()
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// expandSteps replaces every for_each step by one instance per key, in key
// order: a map or object gives its keys and values, a set or list of
// strings its strings (each.key and each.value both). for_each is static:
// it may use var, local, host and group, so that the steps of every node
// are known before anything runs.
func (p *Plan) expandSteps(t *task) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var out []*stepDecl
	for _, s := range t.steps {
		if s.forEach == nil {
			out = append(out, s)
			continue
		}
		bad := func(why string) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid for_each",
				Detail:  "for_each must be a map or object, or a set or list of strings, known before anything runs; " + why,
				Subject: s.forEach.Range().Ptr()})
		}
		v, d, known := p.evalDeferred(s.forEach, t.filename, t.eachVars())
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if !known {
			continue // a group not bound yet: no instance until it is
		}
		keys, why := forEachKeys(v, "steps")
		if why != "" {
			bad(why)
			continue
		}
		for _, k := range sortedKeys(keys) {
			inst := *s
			inst.base, inst.key, inst.value = s.name, k, keys[k]
			inst.name = fmt.Sprintf("%s[%q]", s.name, k)
			out = append(out, &inst)
		}
	}
	for i, s := range out {
		s.index = i
		if s.instance() {
			t.stepByName[s.base] = s // the last instance: references come after it
		} else {
			t.stepByName[s.name] = s
		}
	}
	t.steps = out
	return diags
}

// refScope says which roots an expression may use.
type refScope struct {
	what      string // for messages: "on", "when", "step \"x\"", ...
	target    bool
	late      bool // task.* allowed
	each      bool // each.* allowed (a step with for_each)
	stepsUpTo int  // step.* allowed for steps with index < stepsUpTo; -1 none
}

// checkTaskRefs checks every reference in t's body and records the
// references to other tasks.
func (p *Plan) checkTaskRefs(t *task) hcl.Diagnostics {
	var diags hcl.Diagnostics
	check := func(e hcl.Expression, sc refScope) {
		for _, tr := range e.Variables() {
			diags = append(diags, p.checkTaskRef(t, tr, sc)...)
		}
	}
	nodeStatic := func(what string) refScope { return refScope{what: what, target: true, stepsUpTo: -1} }
	if a, ok := t.attrs["description"]; ok {
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() == "each" && t.instance() {
				continue
			}
			d, _ := p.checkStaticRef(tr)
			diags = append(diags, d...)
		}
	}
	for _, name := range []string{"sudo", "timeout", "when"} {
		if a, ok := t.attrs[name]; ok {
			check(a.Expr, nodeStatic(name))
		}
	}
	if a, ok := t.attrs["env"]; ok {
		check(a.Expr, refScope{what: "env", target: true, late: true, stepsUpTo: -1})
	}
	if t.retry != nil {
		for _, a := range sortedAttrs(t.retry.attrs) {
			check(a.Expr, nodeStatic("retry"))
		}
	}
	for _, s := range t.steps {
		sc := refScope{what: fmt.Sprintf("%s %q", s.kind, s.name), target: true, late: true, stepsUpTo: s.index, each: s.forEach != nil}
		if s.forEach != nil {
			for _, tr := range s.forEach.Variables() {
				if tr.RootName() == "each" && t.instance() {
					continue
				}
				d, _ := p.checkStaticRef(tr)
				for _, di := range d {
					if di.Summary == "Invalid reference" {
						di.Detail = fmt.Sprintf("for_each must be known before anything runs, so it may refer only to var, local, host and group, not %s.", tr.RootName())
					}
				}
				diags = append(diags, d...)
			}
		}
		for _, a := range sortedAttrs(s.attrs) {
			check(a.Expr, sc)
		}
		if s.retry != nil {
			for _, a := range sortedAttrs(s.retry.attrs) {
				check(a.Expr, sc)
			}
		}
	}
	for _, o := range t.outputs {
		sc := refScope{what: fmt.Sprintf("output %q", o.name), target: true, late: true, stepsUpTo: len(t.steps)}
		check(o.value, sc)
		if o.sensitive != nil {
			check(o.sensitive, nodeStatic("sensitive"))
		}
	}
	var deps []taskRef
	for _, r := range t.dependsOn {
		x, ok := p.taskByName[r.task]
		if !ok || x.forEach == nil {
			deps = append(deps, r)
			continue
		}
		// task.X of a for_each task is every instance; task.X["key"] one.
		if r.host != "" {
			inst := fmt.Sprintf("%s[%q]", r.task, r.host)
			if _, ok := p.taskByName[inst]; !ok && !x.instancesUnknown {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No such task instance",
					Detail:  fmt.Sprintf("Task %q has for_each and no instance %q.%s", r.task, r.host, didYouMean(r.host, instanceKeys(x))),
					Subject: r.rng.Ptr()})
				continue
			}
			r.task, r.host = inst, ""
			deps = append(deps, r)
			continue
		}
		for _, inst := range x.instances {
			r.task = inst.name
			deps = append(deps, r)
		}
	}
	for _, r := range deps {
		if _, ok := p.taskByName[r.task]; !ok {
			if _, declared := p.taskByName[strings.SplitN(r.task, "[", 2)[0]]; declared {
				continue // an instance of a for_each not known yet
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared task",
				Detail:  fmt.Sprintf("The plan declares no task named %q.%s", r.task, didYouMean(r.task, sortedKeys(p.taskByName))),
				Subject: r.rng.Ptr()})
			continue
		}
		if r.task == t.name || (t.instance() && r.task == t.base) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Task depends on itself",
				Detail: fmt.Sprintf("Task %q lists itself in depends_on.", t.name), Subject: r.rng.Ptr()})
			continue
		}
		if x := p.taskByName[r.task]; r.host != "" && !x.onFailed && !x.onUnknown && !containsHostName(x.hosts, r.host) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Task does not run on this host",
				Detail:  fmt.Sprintf("task %q does not run on host %q (it runs on: %s).%s", r.task, r.host, hostNames(x.hosts), didYouMean(r.host, hostNamesList(x.hosts))),
				Subject: r.rng.Ptr()})
			continue
		}
		t.refs = append(t.refs, r)
	}
	return diags
}

var allRoots = []string{"var", "local", "host", "group", "target", "step", "task"}

func (p *Plan) checkTaskRef(t *task, tr hcl.Traversal, sc refScope) hcl.Diagnostics {
	root := tr.RootName()
	notHere := func(why string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference",
			Detail: fmt.Sprintf("%s is not available in %s: %s", root, sc.what, why), Subject: tr.SourceRange().Ptr()}}
	}
	switch root {
	case "var", "local", "host", "group":
		d, _ := p.checkStaticRef(tr)
		return d
	case "target":
		if !sc.target {
			return notHere("it is evaluated before hosts are bound to nodes.")
		}
		if len(tr) < 2 {
			return nil
		}
		attr, ok := attrAt(tr, 1)
		if ok && !hostType.HasAttribute(attr) {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unsupported attribute",
				Detail:  fmt.Sprintf("target has no attribute %q; it has name, address, user, port and vars.%s", attr, didYouMean(attr, sortedKeys(hostType.AttributeTypes()))),
				Subject: tr.SourceRange().Ptr()}}
		}
		return nil
	case "step":
		if sc.stepsUpTo < 0 {
			return notHere("step results exist only inside steps and outputs.")
		}
		name, ok := attrAt(tr, 1)
		if !ok {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference",
				Detail: "A step reference names the step, as in step.NAME.stdout.", Subject: tr.SourceRange().Ptr()}}
		}
		s, ok := t.stepByName[name]
		if !ok {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to undeclared step",
				Detail:  fmt.Sprintf("Task %q has no step named %q.%s", t.name, name, didYouMean(name, sortedKeys(t.stepByName))),
				Subject: tr.SourceRange().Ptr()}}
		}
		if s.index >= sc.stepsUpTo {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to a later step",
				Detail:  fmt.Sprintf("%s cannot use step.%s: steps run in order and %q runs at or after this point.", sc.what, name, name),
				Subject: tr.SourceRange().Ptr()}}
		}
		pos := 2
		if s.forEach != nil || s.instance() {
			// step.NAME["key"].stdout: the key names the instance.
			if len(tr) > 2 {
				if _, isIndex := tr[2].(hcl.TraverseIndex); !isIndex {
					return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid reference",
						Detail:  fmt.Sprintf("Step %q has for_each: name an instance, as in step.%s[\"KEY\"].stdout.", name, name),
						Subject: tr.SourceRange().Ptr()}}
				}
			}
			pos = 3
		}
		if attr, ok := attrAt(tr, pos); ok && !stepType.HasAttribute(attr) {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unsupported attribute",
				Detail: fmt.Sprintf("step.%s has no attribute %q; steps give stdout, stderr, exit_code, content, changed and skipped.%s",
					name, attr, didYouMean(attr, sortedKeys(stepType.AttributeTypes()))),
				Subject: tr.SourceRange().Ptr()}}
		}
		return nil
	case "task":
		if !sc.late {
			return notHere("it must be known before anything runs (use depends_on to order tasks).")
		}
		return p.checkTaskOutputRef(t, tr)
	case "each":
		if !sc.each && !t.instance() {
			return notHere("each exists only in a task or step with for_each.")
		}
		if attr, ok := attrAt(tr, 1); !ok || (attr != "key" && attr != "value") {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unsupported attribute",
				Detail: "each has two attributes: each.key and each.value.", Subject: tr.SourceRange().Ptr()}}
		}
		return nil
	}
	return hcl.Diagnostics{unknownRootDiag(tr, allRoots)}
}

// checkTaskOutputRef checks task.X, task.X.output.Y and
// task.X["host"].output.Y and records the reference.
func (p *Plan) checkTaskOutputRef(t *task, tr hcl.Traversal) hcl.Diagnostics {
	bad := func(summary, detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: tr.SourceRange().Ptr()}}
	}
	name, ok := attrAt(tr, 1)
	if !ok {
		return bad("Invalid reference", "A task reference names the task, as in task.NAME.output.VALUE.")
	}
	if d := p.checkDeclared("task", name, tr); d != nil {
		return hcl.Diagnostics{d}
	}
	rest := tr[2:]
	if x := p.taskByName[name]; x.forEach != nil {
		// task.X["key"]... names an instance; a bare or computed task.X
		// may read any of them, so it waits for them all.
		key, ok := "", false
		if len(rest) > 0 {
			if _, isIndex := rest[0].(hcl.TraverseIndex); isIndex {
				key, ok = traverserName(rest[0])
			}
		}
		if !ok {
			for _, inst := range x.instances {
				t.refs = append(t.refs, taskRef{task: inst.name, output: "*", allHosts: true, rng: tr.SourceRange()})
			}
			return nil
		}
		inst := fmt.Sprintf("%s[%q]", name, key)
		if _, found := p.taskByName[inst]; !found {
			if x.instancesUnknown {
				return nil
			}
			return bad("No such task instance", fmt.Sprintf("Task %q has for_each and no instance %q.%s", name, key, didYouMean(key, instanceKeys(x))))
		}
		name, rest = inst, rest[1:]
	}
	if name == t.name {
		return bad("Task refers to itself", fmt.Sprintf("Task %q cannot read its own outputs; use step.NAME inside the task.", name))
	}
	x := p.taskByName[name]
	ref := taskRef{task: name, rng: tr.SourceRange()}
	if len(rest) > 0 {
		if _, isIndex := rest[0].(hcl.TraverseIndex); isIndex {
			hostName, ok := traverserName(rest[0])
			if !ok {
				return bad("Invalid reference", fmt.Sprintf("Index task.%s with a host name, as in task.%s[\"cp1\"].output.VALUE.", name, name))
			}
			if !containsHostName(x.hosts, hostName) && !x.onFailed && !x.onUnknown {
				return bad("Task does not run on this host",
					fmt.Sprintf("task %q does not run on host %q (it runs on: %s).%s", name, hostName, hostNames(x.hosts), didYouMean(hostName, hostNamesList(x.hosts))))
			}
			ref.host = hostName
			rest = rest[1:]
		}
	}
	if len(rest) == 0 {
		ref.allHosts, ref.output = true, "*"
	}
	if len(rest) > 0 {
		if a, ok := rest[0].(hcl.TraverseAttr); !ok || a.Name != "output" {
			what := "this"
			if ok {
				what = fmt.Sprintf("%q", a.Name)
			}
			return bad("Unsupported attribute", fmt.Sprintf("A task gives only its outputs: use task.%s.output.NAME, not %s.", name, what))
		}
		if len(rest) > 1 {
			out, ok := traverserName(rest[1])
			if !ok {
				return bad("Invalid reference", fmt.Sprintf("Name the output, as in task.%s.output.NAME.", name))
			}
			if _, declared := x.outByName[out]; !declared {
				return bad("Reference to undeclared output",
					fmt.Sprintf("Task %q has no output named %q.%s", name, out, didYouMean(out, sortedKeys(x.outByName))))
			}
			ref.output = out
		} else {
			ref.output = "*"
		}
	}
	t.refs = append(t.refs, ref)
	return nil
}

// traverserName is the name an attribute or string-index step selects.
func traverserName(s hcl.Traverser) (string, bool) {
	switch s := s.(type) {
	case hcl.TraverseAttr:
		return s.Name, true
	case hcl.TraverseIndex:
		if s.Key.IsKnown() && !s.Key.IsNull() && s.Key.Type().FriendlyName() == "string" {
			return s.Key.AsString(), true
		}
	}
	return "", false
}

func containsHostName(hs []*Host, name string) bool {
	for _, h := range hs {
		if h.Name == name {
			return true
		}
	}
	return false
}

func hostNamesList(hs []*Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func hostNames(hs []*Host) string {
	if len(hs) == 0 {
		return "no host"
	}
	return strings.Join(hostNamesList(hs), ", ")
}

// instanceKeys lists the keys of a for_each task's instances.
func instanceKeys(t *task) []string {
	out := make([]string, len(t.instances))
	for i, inst := range t.instances {
		out[i] = inst.key
	}
	return out
}
