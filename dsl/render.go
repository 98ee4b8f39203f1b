package dsl

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Render writes, for every node in graph order, the host, the task and
// every step's command, script or file content as it would be sent.
// Run-time values appear as placeholders naming their source, such as
// "<step.make.stdout>" or "<task.ca.output.ca_crt from cp1>"; a value
// computed from them at run time shows as "<computed at run time from
// ...>". Sensitive values show as "(sensitive)". The output is
// deterministic. Diagnostics are returned for what could not be rendered.
func Render(p *Plan, w io.Writer) hcl.Diagnostics {
	return RenderNodes(p, w, nil)
}

// RenderNodes is Render limited to the nodes keep accepts (all when nil).
func RenderNodes(p *Plan, w io.Writer, keep func(*Node) bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var buf bytes.Buffer
	var nodes []*Node
	for _, n := range p.Nodes() {
		if keep == nil || keep(n) {
			nodes = append(nodes, n)
		}
	}
	fmt.Fprintf(&buf, "# %d nodes, in the order they may run\n", len(nodes))
	secrets := map[string]struct{}{}
	for s := range p.secrets {
		secrets[s] = struct{}{}
	}
	for i, n := range nodes {
		d := p.renderNode(&buf, n, i+1, len(nodes), secrets)
		diags = append(diags, d...)
	}
	all := sortedSecrets(secrets)
	out := redact(buf.String(), all)
	for _, d := range diags {
		d.Summary = redact(d.Summary, all)
		d.Detail = redact(d.Detail, all)
	}
	if _, err := io.WriteString(w, out); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot write render output", Detail: err.Error()})
	}
	return diags
}

func (p *Plan) renderNode(w *bytes.Buffer, n *Node, i, total int, secrets map[string]struct{}) hcl.Diagnostics {
	h := n.Host
	t := p.info[n].task
	fmt.Fprintf(w, "\n=== %s (node %d of %d)\n", n.ID, i, total)
	fmt.Fprintf(w, "host:  %s%s\n", h.Name, hostDetails(h))
	fmt.Fprintf(w, "task:  %s (%s:%d)\n", t.name, t.declRange.Filename, t.declRange.Start.Line)
	if a, ok := t.attrs["description"]; ok {
		ctx := p.staticContext(t.filename)
		for k, v := range t.eachVars() {
			ctx.Variables[k] = v
		}
		if v, d := a.Expr.Value(ctx); !d.HasErrors() {
			fmt.Fprintf(w, "about: %s\n", oneLine(renderValue(v, a.Expr)))
		}
	}
	if len(n.Deps) > 0 {
		ids := make([]string, len(n.Deps))
		for j, d := range n.Deps {
			ids[j] = d.ID
		}
		fmt.Fprintf(w, "after: %s\n", strings.Join(ids, ", "))
	}
	var opts []string
	if n.Sudo {
		opts = append(opts, "sudo")
	}
	if n.Timeout > 0 {
		opts = append(opts, "timeout "+formatDuration(n.Timeout))
	}
	if n.AlwaysRun {
		opts = append(opts, "always run (never up to date from the run state)")
	}
	if n.Retry.Attempts > 1 {
		opts = append(opts, fmt.Sprintf("retry %d times, %s apart", n.Retry.Attempts, formatDuration(n.Retry.Delay)))
	}
	if len(opts) > 0 {
		fmt.Fprintf(w, "with:  %s\n", strings.Join(opts, ", "))
	}
	if r := n.Rolling; r != nil {
		fmt.Fprintf(w, "batch: %d of %d (%s)\n", n.Batch+1, r.Batches, r)
	}

	ev, diags := p.newEvaluator(n, nil, modeRender)
	if ev == nil {
		return diags
	}
	check, _ := p.newEvaluator(n, nil, modeCheck)
	defer func() {
		for s := range ev.secrets {
			secrets[s] = struct{}{}
		}
	}()
	if ok, d := ev.When(); d.HasErrors() {
		return append(diags, d...)
	} else if !ok {
		fmt.Fprintf(w, "skipped: the task's when is false\n")
		return diags
	}
	if a, ok := t.attrs["env"]; ok {
		v, d := a.Expr.Value(ev.context())
		if d.HasErrors() {
			fmt.Fprintf(w, "env:   %s\n", computedFrom(a.Expr, nil))
		} else {
			writeEnv(w, v)
		}
	}
	for _, s := range t.steps {
		vals, d := ev.evalAttrs(s)
		if d.HasErrors() {
			// A function may reject a placeholder (jsondecode of
			// "<step.x.stdout>"): fall back to the type-check values.
			cvals, cd := check.evalAttrs(s)
			if cd.HasErrors() {
				diags = append(diags, cd...)
			}
			for k, v := range cvals {
				if _, ok := vals[k]; !ok {
					vals[k] = v
				}
			}
		}
		ev.cur, check.cur = s, s
		renderStep(w, s, vals, ev)
		ev.cur, check.cur = nil, nil
	}
	outs, d := ev.Outputs()
	if d.HasErrors() {
		outs, _ = check.Outputs()
	}
	for _, o := range t.outputs {
		v, ok := outs[o.name]
		text := "<not known>"
		if ok {
			text = renderValue(v, o.value)
		}
		fmt.Fprintf(w, "--- output %s = %s\n", o.name, oneLine(text))
	}
	return diags
}

func hostDetails(h *Host) string {
	var parts []string
	if h.Address != "" && h.Address != h.Name {
		parts = append(parts, "address "+h.Address)
	}
	if h.User != "" {
		parts = append(parts, "user "+h.User)
	}
	if h.Port != 0 {
		parts = append(parts, fmt.Sprintf("port %d", h.Port))
	}
	if len(h.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(h.Groups, ","))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func writeEnv(w *bytes.Buffer, v cty.Value) {
	if isSensitive(v) && v.HasMark(Sensitive) {
		fmt.Fprintf(w, "env:   (sensitive)\n")
		return
	}
	uv, _ := v.Unmark()
	if uv.IsNull() || !uv.IsKnown() || !uv.CanIterateElements() {
		fmt.Fprintf(w, "env:   %s\n", renderValue(v, nil))
		return
	}
	m := uv.AsValueMap()
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(w, "env:   %s=%s\n", k, oneLine(renderValue(m[k], nil)))
	}
}

// formatDuration writes a duration the way plans do: "5m", "1h30m",
// "90s" as "1m30s", never "5m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func renderStep(w *bytes.Buffer, s *stepDecl, vals map[string]cty.Value, ev *evaluator) {
	text := func(name string) string { return renderValue(vals[name], exprOf(s.attrs, name)) }
	has := func(name string) bool {
		v, ok := vals[name]
		if !ok {
			_, declared := s.attrs[name]
			return declared
		}
		uv, _ := v.Unmark()
		return !uv.IsNull()
	}
	header := fmt.Sprintf("--- %s %s", s.kind, s.name)
	switch s.kind {
	case StepFile:
		header += " -> " + oneLine(text("destination"))
	case StepFetch:
		header += " <- " + oneLine(text("source"))
		if has("destination") {
			header += " (to local " + oneLine(text("destination")) + ")"
		}
	case StepScript:
		interp := "/bin/sh -s"
		if has("interpreter") {
			interp = oneLine(text("interpreter"))
		}
		header += " (stdin of " + interp + ")"
	}
	fmt.Fprintln(w, header)
	if has("when") {
		if v, ok := vals["when"]; ok {
			if uv, _ := v.Unmark(); !hasPlaceholder(v) && uv.IsKnown() && !uv.IsNull() && uv.Type() == cty.Bool && uv.False() {
				fmt.Fprintln(w, "skipped: when is false")
				return
			}
		}
		fmt.Fprintf(w, "when:    %s\n", oneLine(text("when")))
	}
	for _, g := range []string{"creates", "unless", "sudo", "changed", "timeout", "mode", "owner", "group"} {
		if !has(g) {
			continue
		}
		t := oneLine(text(g))
		if a, ok := s.attrs[g]; ok && g == "timeout" {
			// Shown as the task's is: "30" seconds and "30s" alike as 30s.
			if d, diags := durationAttr(a, ev.context()); !diags.HasErrors() && !hasPlaceholder(vals[g]) {
				t = formatDuration(d)
			}
		}
		fmt.Fprintf(w, "%-8s %s\n", g+":", t)
	}
	if s.retry != nil {
		if r, diags := retryValue(s.retry, ev.context()); !diags.HasErrors() {
			fmt.Fprintf(w, "%-8s %d times, %s apart\n", "retry:", r.Attempts, formatDuration(r.Delay))
		}
	}
	if has("env") {
		writeEnv(w, vals["env"])
	}
	body := ""
	switch s.kind {
	case StepRun:
		body = bodyText(w, vals["command"], exprOf(s.attrs, "command"))
	case StepScript, StepFile:
		if has("content") {
			body = bodyText(w, vals["content"], exprOf(s.attrs, "content"))
		} else if has("source") {
			fmt.Fprintf(w, "source:  %s (local file, sent as is)\n", oneLine(text("source")))
			return
		}
	case StepReboot:
		body = "(reboot, then wait for the host to come back)"
	case StepFetch:
		return
	}
	if body != "" {
		fmt.Fprint(w, body)
		if !strings.HasSuffix(body, "\n") {
			fmt.Fprintln(w)
		}
	}
}

func exprOf(attrs hcl.Attributes, name string) hcl.Expression {
	if a, ok := attrs[name]; ok {
		return a.Expr
	}
	return nil
}

func oneLine(s string) string {
	if strings.Contains(s, "\n") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// hasPlaceholder reports whether v was computed from a render
// placeholder, so that its value says nothing about the real run.
func hasPlaceholder(v cty.Value) bool {
	_, pvm := v.UnmarkDeepWithPaths()
	for _, pm := range pvm {
		for m := range pm.Marks {
			if _, ok := m.(placeholder); ok {
				return true
			}
		}
	}
	return false
}

// bodyText renders a command, script or file content. When run-time
// values went through functions (a comparison, base64encode, ...), the text
// is still shown, computed from the placeholders, after a note naming them.
func bodyText(w *bytes.Buffer, v cty.Value, expr hcl.Expression) string {
	if v == cty.NilVal || isSensitive(v) {
		return renderValue(v, expr)
	}
	uv, _ := v.UnmarkDeep()
	sources := placeholderSources(v)
	if len(sources) == 0 || !uv.IsWhollyKnown() || uv.IsNull() || uv.Type() != cty.String {
		return renderValue(v, expr)
	}
	s := uv.AsString()
	var missing []string
	for _, src := range sources {
		if !strings.Contains(s, src) {
			missing = append(missing, strings.TrimSuffix(strings.TrimPrefix(src, "<"), ">"))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "note:    computed at run time from %s; shown as computed from placeholder text\n", strings.Join(missing, ", "))
	}
	return s
}

func placeholderSources(v cty.Value) []string {
	_, pvm := v.UnmarkDeepWithPaths()
	var sources []string
	seen := map[string]bool{}
	for _, pm := range pvm {
		for m := range pm.Marks {
			if ph, ok := m.(placeholder); ok && !seen[string(ph)] {
				seen[string(ph)] = true
				sources = append(sources, string(ph))
			}
		}
	}
	sort.Strings(sources)
	return sources
}

// renderValue shows a value for render: sensitive values as
// "(sensitive)", placeholders inline when the value still contains them
// verbatim, else "<computed at run time from ...>".
func renderValue(v cty.Value, expr hcl.Expression) string {
	if v == cty.NilVal {
		if expr != nil {
			return computedFrom(expr, nil)
		}
		return "<not known>"
	}
	if isSensitive(v) {
		return "(sensitive)"
	}
	uv, _ := v.UnmarkDeep()
	sources := placeholderSources(v)
	if !uv.IsWhollyKnown() {
		return computedFrom(expr, sources)
	}
	if uv.IsNull() {
		return "null"
	}
	if uv.Type() == cty.String && len(sources) > 0 {
		s := uv.AsString()
		for _, src := range sources {
			if !strings.Contains(s, src) {
				return computedFrom(expr, sources)
			}
		}
		return s
	}
	if len(sources) > 0 {
		return computedFrom(expr, sources)
	}
	if uv.Type() == cty.String {
		return uv.AsString()
	}
	if uv.Type() == cty.Number || uv.Type() == cty.Bool {
		sv, err := convertTo(uv, cty.String)
		if err == nil {
			return sv.AsString()
		}
	}
	b, err := ctyjson.Marshal(uv, cty.DynamicPseudoType)
	if err != nil {
		return "<value>"
	}
	return string(b)
}

// computedFrom names the run-time sources of a value: the placeholders it
// was made from, or the step/task references of its expression.
func computedFrom(expr hcl.Expression, sources []string) string {
	var names []string
	for _, s := range sources {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"))
	}
	if len(names) == 0 && expr != nil {
		seen := map[string]bool{}
		for _, tr := range expr.Variables() {
			if root := tr.RootName(); root == "step" || root == "task" {
				s := traversalString(tr)
				if !seen[s] {
					seen[s] = true
					names = append(names, s)
				}
			}
		}
	}
	if len(names) == 0 {
		return "<computed at run time>"
	}
	return "<computed at run time from " + strings.Join(names, ", ") + ">"
}

func traversalString(tr hcl.Traversal) string {
	var b strings.Builder
	for _, s := range tr {
		switch s := s.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else {
				b.WriteString("[" + s.Key.GoString() + "]")
			}
		case hcl.TraverseSplat:
			b.WriteString("[*]")
		}
	}
	return b.String()
}
