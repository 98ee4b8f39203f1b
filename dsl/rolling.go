package dsl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Rolling is a task's rolling execution: its hosts run in batches of Size,
// in the order of the task's `on`; a batch starts once every node of the
// batch before it has finished, and no batch starts once more than
// MaxFailPercentage percent of a finished batch's nodes failed. One Rolling
// is shared by every node of the task.
type Rolling struct {
	// Serial is the value as written: "2" or "25%".
	Serial string
	// Size is the number of hosts per batch (at least 1); the last batch
	// may be smaller.
	Size int
	// Batches is the number of batches the task's hosts make.
	Batches int
	// MaxFailPercentage: later batches are not started when more than this
	// percent of the nodes of a batch failed (0: any failure stops them).
	MaxFailPercentage int
	// Range is the serial attribute's, for messages.
	Range hcl.Range
}

// String is how render and graph show it: "serial 2 (3 batches), max_fail_percentage 0".
func (r *Rolling) String() string {
	word := "batches"
	if r.Batches == 1 {
		word = "batch"
	}
	return fmt.Sprintf("serial %s (%d %s of %d), max_fail_percentage %d", r.Serial, r.Batches, word, r.Size, r.MaxFailPercentage)
}

// taskRolling reads a task's serial and max_fail_percentage. Both must be
// known before anything runs: they may refer to var, local, host and
// group only. It returns nil when the task has no serial.
func (p *Plan) taskRolling(t *task) (*Rolling, hcl.Diagnostics) {
	sa, hasSerial := t.attrs["serial"]
	ma, hasMax := t.attrs["max_fail_percentage"]
	if !hasSerial {
		if hasMax {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "max_fail_percentage without serial",
				Detail:  "max_fail_percentage limits the failures of a batch of a rolling task; set serial (a number of hosts or a percentage such as \"25%\") to run the task in batches.",
				Subject: ma.NameRange.Ptr()}}
		}
		return nil, nil
	}
	var diags hcl.Diagnostics
	eval := func(a *hcl.Attribute) (cty.Value, bool) {
		ok := true
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() == "each" && t.instance() {
				continue
			}
			d, _ := p.checkStaticRef(tr)
			for _, di := range d {
				if di.Summary == "Invalid reference" {
					di.Detail = fmt.Sprintf("%s must be known before anything runs, so it may refer only to var, local, host and group, not %s.", a.Name, tr.RootName())
				}
			}
			diags = append(diags, d...)
			ok = ok && !d.HasErrors()
		}
		if !ok {
			return cty.NilVal, false
		}
		ctx := p.staticContext(t.filename)
		for k, v := range t.eachVars() {
			ctx.Variables[k] = v
		}
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			return cty.NilVal, false
		}
		v, _ = v.UnmarkDeep()
		if !v.IsWhollyKnown() {
			diags = append(diags, attrDiag(a, "Invalid "+a.Name, fmt.Errorf("%s must be known before anything runs", a.Name)))
			return cty.NilVal, false
		}
		return v, true
	}
	r := &Rolling{Range: sa.Expr.Range()}
	n := len(t.hosts)
	if v, ok := eval(sa); ok {
		size, spec, err := serialSize(v, n)
		if err != nil {
			diags = append(diags, attrDiag(sa, "Invalid serial", err))
		}
		r.Size, r.Serial = size, spec
	}
	if hasMax {
		if v, ok := eval(ma); ok {
			pct, err := asInt(v)
			if err == nil && (pct < 0 || pct > 100) {
				err = fmt.Errorf("a whole number from 0 to 100 is required, not %d", pct)
			}
			if err != nil {
				diags = append(diags, attrDiag(ma, "Invalid max_fail_percentage", err))
			}
			r.MaxFailPercentage = pct
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	r.Batches = (n + r.Size - 1) / r.Size
	return r, diags
}

// serialSize turns serial into a batch size for n hosts: a whole number of
// hosts (at least 1), or a string "N%" (1 to 100) of the task's hosts,
// rounded down and at least 1, as Ansible's serial.
func serialSize(v cty.Value, n int) (size int, spec string, err error) {
	if v.IsNull() {
		return 0, "", fmt.Errorf("a number of hosts per batch or a percentage such as \"25%%\" is required, not null")
	}
	if v.Type() == cty.String {
		s := strings.TrimSpace(v.AsString())
		if num, ok := strings.CutSuffix(s, "%"); ok {
			pct, perr := strconv.Atoi(strings.TrimSpace(num))
			if perr != nil || pct < 1 || pct > 100 {
				return 0, "", fmt.Errorf("a percentage serial is \"N%%\" with N a whole number from 1 to 100, not %q", s)
			}
			size = n * pct / 100
			if size < 1 {
				size = 1
			}
			return size, strconv.Itoa(pct) + "%", nil
		}
	}
	count, err := asInt(v)
	if err != nil {
		return 0, "", fmt.Errorf("a number of hosts per batch or a percentage such as \"25%%\" is required: %v", err)
	}
	if count < 1 {
		return 0, "", fmt.Errorf("a batch has at least 1 host, not %d", count)
	}
	return count, strconv.Itoa(count), nil
}

// setRolling gives every node of t its batch: nodes are numbered in the
// order of t's hosts (its `on`).
func setRolling(nodes []*Node, r *Rolling) {
	for i, n := range nodes {
		n.Rolling = r
		n.Batch = i / r.Size
	}
}
