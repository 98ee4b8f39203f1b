package dsl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// evalMode says what run-time values look like during an evaluation.
type evalMode int

const (
	modeRun    evalMode = iota // real values from Record and Upstream
	modeCheck                  // typed unknowns (the offline type check)
	modeRender                 // placeholders naming their source (plan render)
)

// placeholder is a cty mark on values that stand in for run-time values in
// render mode; its text names the source, e.g. "<step.make.stdout>".
type placeholder string

type evaluator struct {
	p     *Plan
	n     *Node
	t     *task
	mode  evalMode
	up    Upstream
	funcs funcTable

	taskVal cty.Value            // the `task` variable
	steps   map[string]cty.Value // step values recorded so far, by step name (NAME["key"] for instances)
	cur     *stepDecl            // the step being evaluated: its each.key and each.value
	env     map[string]string    // the task's env, once evaluated
	envDone bool
	secrets map[string]struct{}
	reads   map[string]string
}

// Evaluator returns the late evaluator of node n, reading upstream outputs
// from up. It fails when an output n refers to is not available in up.
func (p *Plan) Evaluator(n *Node, up Upstream) (Evaluator, hcl.Diagnostics) {
	if up == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No upstream outputs",
			Detail: "Evaluator needs an Upstream to read the outputs of the nodes this one depends on."}}
	}
	ev, diags := p.newEvaluator(n, up, modeRun)
	if ev == nil {
		return nil, diags
	}
	return ev, diags
}

func (p *Plan) newEvaluator(n *Node, up Upstream, mode evalMode) (*evaluator, hcl.Diagnostics) {
	info, ok := p.info[n]
	if !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown node",
			Detail: fmt.Sprintf("Node %q does not belong to this plan.", n.ID)}}
	}
	ev := &evaluator{
		p: p, n: n, t: info.task, mode: mode, up: up,
		steps: map[string]cty.Value{}, secrets: map[string]struct{}{}, reads: map[string]string{},
	}
	for s := range p.secrets {
		ev.secrets[s] = struct{}{}
	}
	ev.funcs = p.functionsRec(info.task.filename, ev.recordRead)
	diags := ev.buildTaskVal()
	if diags.HasErrors() {
		return nil, diags
	}
	switch mode {
	case modeCheck:
		for _, s := range ev.t.steps {
			ev.steps[s.name] = cty.UnknownVal(stepType)
		}
	case modeRender:
		for _, s := range ev.t.steps {
			ev.steps[s.name] = renderStepValue(s.name)
		}
	}
	return ev, diags
}

func (ev *evaluator) recordRead(path string, content []byte) {
	sum := sha256.Sum256(content)
	ev.reads[path] = hex.EncodeToString(sum[:])
}

func renderStepValue(name string) cty.Value {
	ph := func(attr string) placeholder { return placeholder(fmt.Sprintf("<step.%s.%s>", name, attr)) }
	str := func(attr string) cty.Value { return cty.StringVal(string(ph(attr))).Mark(ph(attr)) }
	return cty.ObjectVal(map[string]cty.Value{
		"stdout":    str("stdout"),
		"stderr":    str("stderr"),
		"content":   str("content"),
		"exit_code": cty.UnknownVal(cty.Number).Mark(ph("exit_code")),
		"changed":   cty.UnknownVal(cty.Bool).Mark(ph("changed")),
		"skipped":   cty.UnknownVal(cty.Bool).Mark(ph("skipped")),
	})
}

// buildTaskVal makes the `task` variable: for each task X this one refers
// to, task.X.output (when X's node for this host is clear) and
// task.X["host"].output.
func (ev *evaluator) buildTaskVal() hcl.Diagnostics {
	var diags hcl.Diagnostics
	h := ev.n.Host
	needs := map[string]map[string]bool{} // task -> hosts whose outputs are read
	defaults := map[string]string{}       // task -> host behind task.X.output
	for _, r := range ev.t.refs {
		if r.output == "" {
			continue
		}
		x := ev.p.taskByName[r.task]
		if needs[r.task] == nil {
			needs[r.task] = map[string]bool{}
		}
		if r.allHosts {
			for _, xh := range x.hosts {
				needs[r.task][xh.Name] = true
			}
		}
		switch {
		case r.host != "":
			needs[r.task][r.host] = true
		case containsHost(x.hosts, h):
			needs[r.task][h.Name] = true
			defaults[r.task] = h.Name
		case len(x.hosts) == 1:
			needs[r.task][x.hosts[0].Name] = true
			defaults[r.task] = x.hosts[0].Name
		}
	}
	tasks := map[string]cty.Value{}
	for _, xname := range sortedKeys(needs) {
		attrs := map[string]cty.Value{}
		for _, hname := range sortedKeys(needs[xname]) {
			outs, d := ev.upstreamOutputs(xname, hname)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			attrs[hname] = cty.ObjectVal(map[string]cty.Value{"output": outs})
			if defaults[xname] == hname {
				attrs["output"] = outs
			}
		}
		tasks[xname] = objectOf(attrs)
	}
	// An instance X["key"] is read as task.X["key"]: nest it under X.
	nested := map[string]map[string]cty.Value{}
	for name, v := range tasks {
		if x := ev.p.taskByName[name]; x != nil && x.instance() {
			if nested[x.base] == nil {
				nested[x.base] = map[string]cty.Value{}
			}
			nested[x.base][x.key] = v
			delete(tasks, name)
		}
	}
	for base, m := range nested {
		tasks[base] = objectOf(m)
	}
	ev.taskVal = objectOf(tasks)
	return diags
}

// upstreamOutputs returns task X's outputs on host as a cty object, in the
// evaluator's mode.
func (ev *evaluator) upstreamOutputs(xname, hname string) (cty.Value, hcl.Diagnostics) {
	x := ev.p.taskByName[xname]
	un := ev.p.nodeByID[nodeID(xname, hname)]
	var checkOuts map[string]cty.Value
	if un != nil {
		checkOuts = ev.p.info[un].checkOutputs
	}
	out := map[string]cty.Value{}
	switch ev.mode {
	case modeCheck:
		for k, v := range checkOuts {
			out[k] = v
		}
	case modeRender:
		for k, v := range checkOuts {
			src := fmt.Sprintf("<task.%s.output.%s from %s>", xname, k, hname)
			if o, ok := x.outByName[k]; ok && (isSensitive(v) || ev.p.outputSensitive(o, x)) {
				// Not the secret itself, so it can be shown; but say it is one.
				src = fmt.Sprintf("<task.%s.output.%s from %s (sensitive)>", xname, k, hname)
			}
			v, _ = v.Unmark()
			// An output of unknown type (jsondecode of a step's stdout) is
			// shown as text too; an expression that needs another type
			// falls back to the type-check value in Render.
			if v.Type() == cty.String || v.Type() == cty.DynamicPseudoType {
				out[k] = cty.StringVal(src).Mark(placeholder(src))
			} else {
				out[k] = cty.UnknownVal(v.Type()).Mark(placeholder(src))
			}
		}
	default:
		vals, _ := ev.up.Outputs(xname, hname)
		// A node that gave no outputs (its task's when was false) has
		// null outputs, typed as the offline check saw them.
		for _, o := range x.outputs {
			if _, ok := vals[o.name]; !ok {
				ty := cty.DynamicPseudoType
				if cv, ok := checkOuts[o.name]; ok && cv != cty.NilVal {
					ty = cv.Type()
				}
				out[o.name] = cty.NullVal(ty)
			}
		}
		for k, v := range vals {
			if v == cty.NilVal {
				v = cty.NullVal(cty.DynamicPseudoType)
			}
			// Marks do not survive run state on disk: re-mark what the
			// plan says is sensitive.
			if o, declared := x.outByName[k]; declared && (ev.p.outputSensitive(o, x) || isSensitive(checkOuts[k])) {
				v = v.Mark(Sensitive)
			}
			collectSecrets(v, ev.secrets)
			out[k] = v
		}
	}
	return objectOf(out), nil
}

// outputSensitive evaluates an output's `sensitive` (static: var, local,
// host, group).
func (p *Plan) outputSensitive(o *outputDecl, t *task) bool {
	if o.sensitive == nil {
		return false
	}
	ctx := p.staticContext(t.filename)
	for k, v := range t.eachVars() {
		ctx.Variables[k] = v
	}
	v, d := o.sensitive.Value(ctx)
	if d.HasErrors() {
		return true // err on the safe side; the type check reports it
	}
	b, err := asBool(v)
	return err != nil || b
}

func (ev *evaluator) context() *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for k, v := range ev.p.staticVars() {
		vars[k] = v
	}
	vars["target"] = hostValue(ev.n.Host)
	vars["task"] = ev.taskVal
	vars["step"] = ev.stepVar()
	for k, v := range ev.t.eachVars() {
		vars[k] = v // the task's each; a for_each step's own each wins below
	}
	if ev.cur != nil && ev.cur.instance() {
		vars["each"] = cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(ev.cur.key), "value": ev.cur.value})
	}
	return &hcl.EvalContext{Variables: vars, Functions: ev.funcs}
}

// stepVar is the `step` variable: step.NAME for a step, step.NAME["key"]
// for the instances of a for_each step.
func (ev *evaluator) stepVar() cty.Value {
	out := map[string]cty.Value{}
	groups := map[string]map[string]cty.Value{}
	for _, s := range ev.t.steps {
		v, ok := ev.steps[s.name]
		if !ok {
			continue
		}
		if !s.instance() {
			out[s.name] = v
			continue
		}
		if groups[s.base] == nil {
			groups[s.base] = map[string]cty.Value{}
		}
		groups[s.base][s.key] = v
	}
	for base, g := range groups {
		out[base] = objectOf(g)
	}
	return objectOf(out)
}

func (ev *evaluator) Len() int                { return len(ev.t.steps) }
func (ev *evaluator) StepName(i int) string   { return ev.t.steps[i].name }
func (ev *evaluator) StepKind(i int) StepKind { return ev.t.steps[i].kind }

// whenRaw is When before redaction.
func (ev *evaluator) whenRaw() (bool, hcl.Diagnostics) {
	a, ok := ev.t.attrs["when"]
	if !ok {
		return true, nil
	}
	v, diags := a.Expr.Value(ev.context())
	if diags.HasErrors() {
		return false, diags
	}
	return ev.boolOf(a, v, true)
}

func (ev *evaluator) boolOf(a *hcl.Attribute, v cty.Value, unknownIs bool) (bool, hcl.Diagnostics) {
	uv, _ := v.Unmark()
	if uv.IsNull() {
		return true, nil
	}
	if !uv.IsKnown() {
		if ev.mode == modeRun {
			return false, hcl.Diagnostics{attrDiag(a, "Invalid "+a.Name, fmt.Errorf("the value is not known%s", ev.p.unknownWhy()))}
		}
		if _, err := convertTo(uv, cty.Bool); err != nil {
			return false, hcl.Diagnostics{attrDiag(a, "Invalid "+a.Name, fmt.Errorf("a bool (true or false) is required"))}
		}
		return unknownIs, nil
	}
	b, err := asBool(uv)
	if err != nil {
		return false, hcl.Diagnostics{attrDiag(a, "Invalid "+a.Name, err)}
	}
	return b, nil
}

// evalAttrs evaluates every attribute of step i (and its retry block) with
// the steps before it in scope.
func (ev *evaluator) evalAttrs(s *stepDecl) (map[string]cty.Value, hcl.Diagnostics) {
	prev := ev.cur
	ev.cur = s
	ctx := ev.context()
	ev.cur = prev
	out := map[string]cty.Value{}
	var diags hcl.Diagnostics
	for _, a := range sortedAttrs(s.attrs) {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			out[a.Name] = v
			collectSecrets(v, ev.secrets)
		}
	}
	return out, diags
}

// stepRaw is Step before redaction. run is false when the step's when is
// false; the step is then recorded as skipped.
func (ev *evaluator) stepRaw(i int) (*Step, bool, hcl.Diagnostics) {
	if i < 0 || i >= len(ev.t.steps) {
		return nil, false, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No such step",
			Detail: fmt.Sprintf("Task %q has %d steps; step %d does not exist.", ev.t.name, len(ev.t.steps), i)}}
	}
	s := ev.t.steps[i]
	ev.cur = s
	defer func() { ev.cur = nil }()
	st := &Step{Kind: s.kind, Name: s.name, Range: s.declRange, Sudo: ev.n.Sudo, Retry: ev.n.Retry}
	// At run time a false when skips the step before anything else is
	// evaluated: the rest may well be meaningless then (a null output).
	// The offline check evaluates everything regardless.
	// The offline check does the same for a when it can already decide: a
	// host whose step is skipped does not get that step's errors.
	if a, ok := s.attrs["when"]; ok && ev.mode != modeRender {
		v, d := a.Expr.Value(ev.context())
		if d.HasErrors() {
			return st, false, d
		}
		run, d := ev.boolOf(a, v, true)
		if d.HasErrors() {
			return st, false, d
		}
		if !run {
			if ev.mode == modeRun {
				ev.Record(i, StepResult{Skipped: true})
			}
			return st, false, nil
		}
	}
	vals, diags := ev.evalAttrs(s)
	if diags.HasErrors() {
		return st, false, diags
	}
	if a, ok := s.attrs["when"]; ok {
		run, d := ev.boolOf(a, vals["when"], true)
		diags = append(diags, d...)
		if d.HasErrors() {
			return st, false, diags
		}
		if !run {
			if ev.mode == modeRun {
				ev.Record(i, StepResult{Skipped: true})
			}
			return st, false, diags
		}
	}
	b := stepBuilder{ev: ev, s: s, vals: vals}
	switch s.kind {
	case StepRun:
		b.required("command", "a run step needs a command")
	case StepFile:
		b.required("destination", "a file step needs a destination")
	case StepFetch:
		b.required("source", "a fetch step needs the remote path to read")
	}
	st.Command = b.str("command")
	st.Interpreter = b.str("interpreter")
	st.Destination = b.str("destination")
	if s.kind != StepFetch { // a fetch's destination is a local path: relative to the working directory
		b.absolute("destination", st.Destination)
	}
	st.Owner = b.account("owner")
	st.Group = b.account("group")
	st.Creates = b.str("creates")
	b.absolute("creates", st.Creates)
	st.Unless = b.str("unless")
	if _, ok := vals["sudo"]; ok {
		st.Sudo = b.boolean("sudo", st.Sudo)
	}
	if _, ok := vals["changed"]; ok {
		st.ReadOnly = !b.boolean("changed", true)
	}
	st.Mode = b.mode("mode")
	if a, ok := s.attrs["timeout"]; ok {
		dur, d := durationAttr(a, ev.context())
		b.diags = append(b.diags, d...)
		st.Timeout = dur
	}
	if s.retry != nil {
		r, d := retryValue(s.retry, ev.context())
		b.diags = append(b.diags, d...)
		st.Retry = r
	}
	st.Env = ev.taskEnv(&b.diags)
	for k, v := range b.strMap("env") {
		if st.Env == nil {
			st.Env = map[string]string{}
		}
		st.Env[k] = v
	}
	switch s.kind {
	case StepScript:
		if st.Interpreter == "" {
			st.Interpreter = "/bin/sh -s"
		}
		if _, ok := vals["content"]; ok {
			st.Script = b.str("content")
		} else if src := b.str("source"); src != "" {
			body, _, err := ev.p.readRel(ev.t.filename, src)
			if err != nil {
				b.fail("source", err)
			} else {
				ev.recordRead(src, body)
				st.Script = string(body)
			}
		}
	case StepFile:
		if _, ok := vals["content"]; ok {
			st.Content = []byte(b.str("content"))
		} else if src := b.str("source"); src != "" {
			st.Source, st.SourceFS = ev.p.resolvePath(ev.t.filename, src)
			if err := localFile(st.Source, st.SourceFS, src); errors.Is(err, fs.ErrNotExist) && ev.mode != modeRun {
				// Offline, a missing file may be made before the run (an
				// artifacts directory filled elsewhere): say so, do not
				// refuse the plan. A directory is wrong wherever it is.
				b.warn("source", err)
			} else if err != nil {
				b.fail("source", err)
			}
		}
	case StepFetch:
		st.Source = b.str("source")
		b.absolute("source", st.Source)
	}
	diags = append(diags, b.diags...)
	return st, !diags.HasErrors(), diags
}

// taskEnv evaluates the task's env once per evaluator.
func (ev *evaluator) taskEnv(diags *hcl.Diagnostics) map[string]string {
	if ev.envDone {
		return copyEnv(ev.env)
	}
	ev.envDone = true
	a, ok := ev.t.attrs["env"]
	if !ok {
		return nil
	}
	v, d := a.Expr.Value(ev.context())
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return nil
	}
	collectSecrets(v, ev.secrets)
	b := stepBuilder{ev: ev, vals: map[string]cty.Value{"env": v}, attrs: ev.t.attrs}
	ev.env = b.strMap("env")
	*diags = append(*diags, b.diags...)
	return copyEnv(ev.env)
}

func copyEnv(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stepBuilder converts evaluated attribute values to Go values, collecting
// diagnostics. Unknown values (check mode) are type-checked only.
type stepBuilder struct {
	ev    *evaluator
	s     *stepDecl
	attrs hcl.Attributes
	vals  map[string]cty.Value
	diags hcl.Diagnostics
}

func (b *stepBuilder) attr(name string) *hcl.Attribute {
	if b.attrs != nil {
		return b.attrs[name]
	}
	return b.s.attrs[name]
}

func (b *stepBuilder) fail(name string, err error) {
	a := b.attr(name)
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + name, Detail: capitalize(err.Error()) + "."}
	if a != nil {
		d.Subject = a.Expr.Range().Ptr()
	}
	b.diags = append(b.diags, d)
}

// warn is fail as a warning.
func (b *stepBuilder) warn(name string, err error) {
	b.fail(name, err)
	d := b.diags[len(b.diags)-1]
	d.Severity = hcl.DiagWarning
	d.Summary = "Local file not found"
}

// value returns the value converted to ty, unmarked; ok is false when the
// attribute is absent, null, or (outside run mode) unknown.
func (b *stepBuilder) value(name string, ty cty.Type) (cty.Value, bool) {
	v, present := b.vals[name]
	if !present {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return cty.NilVal, false
	}
	cv, err := convertTo(v, ty)
	if err != nil {
		b.fail(name, err)
		return cty.NilVal, false
	}
	if !cv.IsWhollyKnown() {
		if b.ev.mode == modeRun {
			b.fail(name, fmt.Errorf("the value is not known%s", b.ev.p.unknownWhy()))
		}
		return cty.NilVal, false
	}
	return cv, true
}

// required fails when the attribute is null or an empty string: the step
// cannot do anything with it.
func (b *stepBuilder) required(name, what string) {
	v, present := b.vals[name]
	if !present {
		return
	}
	v, _ = v.UnmarkDeep()
	switch {
	case v.IsNull():
		b.fail(name, fmt.Errorf("%s; %s is null", what, name))
	case v.IsKnown() && v.Type() == cty.String && strings.TrimSpace(v.AsString()) == "":
		b.fail(name, fmt.Errorf("%s; %s is empty", what, name))
	}
}

// account reads an owner or group: a user or group name, or a numeric id.
// Anything else (12.5, a space) would fail on the host, after the push.
func (b *stepBuilder) account(name string) string {
	v, ok := b.value(name, cty.String)
	if !ok {
		return ""
	}
	s := v.AsString()
	if !validAccount(s) {
		what := fmt.Sprintf("%q", s)
		if isSensitive(b.vals[name]) {
			what = "the (sensitive) value"
		}
		b.fail(name, fmt.Errorf("%s is not a user or group name, or a numeric id", what))
		return ""
	}
	return s
}

// validAccount accepts what useradd/groupadd accept as a name (letters,
// digits, _, and . or - after the first character, an optional final $),
// or a numeric id.
func validAccount(s string) bool {
	if s == "" || len(s) > 256 || s[0] == '-' {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
		case (r == '.' || r == '-') && i > 0:
		case r == '$' && i == len(s)-1 && i > 0:
		default:
			return false
		}
	}
	if strings.Contains(s, ".") {
		// 12.5 is a number, not an id; a name with dots (first.last) is fine.
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return false
		}
	}
	return true
}

// localFile checks that a file step's local source is a readable regular
// file, so that a typo fails offline, not after everything before it ran.
func localFile(resolved string, fsys fs.FS, asWritten string) error {
	var st fs.FileInfo
	var err error
	if fsys != nil {
		st, err = fs.Stat(fsys, resolved)
	} else {
		st, err = os.Stat(resolved)
	}
	where := ""
	if !strings.HasPrefix(asWritten, "/") {
		where = " (paths are relative to the plan file's directory)"
	}
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return notFound(fmt.Sprintf("the local file %q does not exist%s", asWritten, where))
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot read the local file %q: %v", asWritten, err)
	case st.IsDir():
		return fmt.Errorf("the local source %q is a directory; a file step sends one file", asWritten)
	case !st.Mode().IsRegular():
		return fmt.Errorf("the local source %q is not a regular file", asWritten)
	}
	return nil
}

// unknownWhy explains a value unknown at run time: only a group with no
// hosts yet makes a static value unknown.
func (p *Plan) unknownWhy() string {
	if ub := p.Unbound(); len(ub) > 0 {
		return fmt.Sprintf(" (it depends on hosts of a group that has none: bind them with -H %s=HOST)", ub[0])
	}
	return ""
}

// notFound is a missing local file; it is fs.ErrNotExist for errors.Is.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == fs.ErrNotExist }

// absolute checks that a remote path is absolute: relative ones would
// depend on the remote user's working directory.
func (b *stepBuilder) absolute(name, path string) {
	if path != "" && !strings.HasPrefix(path, "/") {
		b.fail(name, fmt.Errorf("%q is not an absolute path on the host; remote paths start with /", path))
	}
}

func (b *stepBuilder) str(name string) string {
	v, ok := b.value(name, cty.String)
	if !ok {
		return ""
	}
	return v.AsString()
}

func (b *stepBuilder) boolean(name string, def bool) bool {
	v, ok := b.value(name, cty.Bool)
	if !ok {
		return def
	}
	return v.True()
}

func (b *stepBuilder) strMap(name string) map[string]string {
	v, ok := b.value(name, cty.Map(cty.String))
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, ev := range v.AsValueMap() {
		if !ev.IsNull() {
			out[k] = ev.AsString()
		}
	}
	return out
}

// mode reads a file mode: the string "0644" (octal), or a number whose
// decimal digits are read as octal (mode = 644 means 0644).
func (b *stepBuilder) mode(name string) fs.FileMode {
	v, ok := b.value(name, cty.String)
	if !ok {
		return 0
	}
	m, err := strconv.ParseUint(strings.TrimPrefix(v.AsString(), "0o"), 8, 32)
	if err != nil || m > 0o7777 {
		b.fail(name, fmt.Errorf("%q is not an octal file mode such as \"0644\"", v.AsString()))
		return 0
	}
	return fs.FileMode(m)
}

// Record stores the result of step i for the expressions after it.
func (ev *evaluator) Record(i int, r StepResult) {
	if i < 0 || i >= len(ev.t.steps) {
		return
	}
	ev.steps[ev.t.steps[i].name] = cty.ObjectVal(map[string]cty.Value{
		"stdout":    cty.StringVal(strings.ToValidUTF8(r.Stdout, "\uFFFD")),
		"stderr":    cty.StringVal(strings.ToValidUTF8(r.Stderr, "\uFFFD")),
		"content":   cty.StringVal(strings.ToValidUTF8(string(r.Content), "\uFFFD")),
		"exit_code": cty.NumberIntVal(int64(r.ExitCode)),
		"changed":   cty.BoolVal(r.Changed),
		"skipped":   cty.BoolVal(r.Skipped),
	})
}

// outputsRaw is Outputs before redaction.
func (ev *evaluator) outputsRaw() (map[string]cty.Value, hcl.Diagnostics) {
	out := map[string]cty.Value{}
	var diags hcl.Diagnostics
	ctx := ev.context()
	for _, o := range ev.t.outputs {
		v, d := o.value.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if o.sensitive != nil {
			sv, d := o.sensitive.Value(ctx)
			diags = append(diags, d...)
			if !d.HasErrors() {
				a := &hcl.Attribute{Name: "sensitive", Expr: o.sensitive, Range: o.sensitive.Range()}
				sens, d := ev.boolOf(a, sv, true)
				diags = append(diags, d...)
				if sens {
					v = v.Mark(Sensitive)
				}
			}
		}
		if ev.mode == modeRun {
			if uv, _ := v.UnmarkDeep(); !uv.IsWhollyKnown() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid output value",
					Detail: fmt.Sprintf("Output %q is not known after the task ran.", o.name), Subject: o.value.Range().Ptr()})
				continue
			}
		}
		collectSecrets(v, ev.secrets)
		out[o.name] = v
	}
	return out, diags
}

// Secrets lists every sensitive string the node has seen, longest first.
func (ev *evaluator) Secrets() []string { return sortedSecrets(ev.secrets) }

// Fingerprint digests the task's source, the host, the static values and
// files the task refers to, and the upstream outputs it reads.
func (ev *evaluator) Fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "task %s\x00%s\x00", ev.t.name, ev.t.srcHash)
	if ev.t.instance() {
		writeFingerprintJSON(h, "each", ev.t.each)
	}
	writeFingerprintJSON(h, "target", hostValue(ev.n.Host))
	// The static references are the same for every node of the task, and
	// one of them is typically the whole `on` group: hashed per node, a
	// task on N hosts would cost O(N²). Their bytes are rendered once per
	// task; the digest is the same as writing them here one by one.
	h.Write(ev.p.staticRefsBytes(ev.t))
	writeFingerprintJSON(h, "task", ev.taskVal)
	// The files read during Load's check of this node, not those read by
	// this evaluator so far: the fingerprint must not change as steps run.
	reads := ev.p.info[ev.n].reads
	for _, k := range sortedKeys(reads) {
		fmt.Fprintf(h, "file %s=%s\x00", k, reads[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeFingerprintJSON writes `label=JSON\x00` of v (unmarked) to w.
func writeFingerprintJSON(w io.Writer, label string, v cty.Value) {
	v, _ = v.UnmarkDeep()
	b, err := ctyjson.Marshal(v, cty.DynamicPseudoType)
	if err != nil {
		b = []byte(v.GoString())
	}
	fmt.Fprintf(w, "%s=%s\x00", label, b)
}

// staticRefsBytes is the fingerprint input for the var, local, host and
// group values task t refers to, in sorted order. It is cached per task
// once the static values are final (p.static set); before that it is
// rendered each time.
func (p *Plan) staticRefsBytes(t *task) []byte {
	if p.static == nil {
		return renderStaticRefs(p.staticVars(), t)
	}
	p.fpMu.Lock()
	b, ok := p.fpRefs[t]
	p.fpMu.Unlock()
	if ok {
		return b
	}
	// Two nodes of one task may render at once; both get the same bytes.
	b = renderStaticRefs(p.staticVars(), t)
	p.fpMu.Lock()
	if p.fpRefs == nil {
		p.fpRefs = map[*task][]byte{}
	}
	p.fpRefs[t] = b
	p.fpMu.Unlock()
	return b
}

func renderStaticRefs(statics map[string]cty.Value, t *task) []byte {
	refs := map[string]cty.Value{}
	for _, tr := range t.allTraversals() {
		root := tr.RootName()
		name, ok := attrAt(tr, 1)
		if !ok {
			continue
		}
		switch root {
		case "var", "local", "host", "group":
			obj := statics[root]
			if obj.Type().IsObjectType() && obj.Type().HasAttribute(name) {
				refs[root+"."+name] = obj.GetAttr(name)
			}
		}
	}
	var buf bytes.Buffer
	for _, k := range sortedKeys(refs) {
		writeFingerprintJSON(&buf, k, refs[k])
	}
	return buf.Bytes()
}

// allTraversals lists every traversal in the task body, in a stable order.
func (t *task) allTraversals() []hcl.Traversal {
	var out []hcl.Traversal
	add := func(attrs hcl.Attributes) {
		for _, a := range sortedAttrs(attrs) {
			out = append(out, a.Expr.Variables()...)
		}
	}
	add(t.attrs)
	if t.retry != nil {
		add(t.retry.attrs)
	}
	for _, s := range t.steps {
		add(s.attrs)
		if s.retry != nil {
			add(s.retry.attrs)
		}
		if s.forEach != nil {
			out = append(out, s.forEach.Variables()...)
		}
	}
	for _, o := range t.outputs {
		out = append(out, o.value.Variables()...)
		if o.sensitive != nil {
			out = append(out, o.sensitive.Variables()...)
		}
	}
	return out
}

// When, Step and Outputs return their diagnostics without any secret the
// node has seen: a diagnostic names a sensitive value, never shows it.

// When evaluates the task's when (true when absent).
func (ev *evaluator) When() (bool, hcl.Diagnostics) {
	ok, diags := ev.whenRaw()
	return ok, ev.redactDiags(diags)
}

// Step evaluates step i; run is false when the step's when is false.
func (ev *evaluator) Step(i int) (*Step, bool, hcl.Diagnostics) {
	st, run, diags := ev.stepRaw(i)
	return st, run, ev.redactDiags(diags)
}

// Outputs evaluates the task's outputs with every step in scope.
func (ev *evaluator) Outputs() (map[string]cty.Value, hcl.Diagnostics) {
	outs, diags := ev.outputsRaw()
	return outs, ev.redactDiags(diags)
}

func (ev *evaluator) redactDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) == 0 {
		return diags
	}
	secrets := ev.Secrets()
	for _, d := range diags {
		stableSuggestion(d)
		ev.p.hintEmptyGroup(d)
		d.Summary = redact(d.Summary, secrets)
		d.Detail = redact(d.Detail, secrets)
	}
	return diags
}
