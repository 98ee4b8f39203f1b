package dsl

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// inputValue is one value given for a variable from outside the plan.
type inputValue struct {
	raw    string         // text of --var or PLAN_VAR_ (parsed per the variable's type)
	expr   hcl.Expression // from a --var-file
	source string         // for messages: "--var", "PLAN_VAR_x", "file.hcl"
	rng    hcl.Range
}

// resolveVariables sets every variable from, in increasing precedence: its
// default, PLAN_VAR_name, --var-file files in order, --var in order.
func (p *Plan) resolveVariables() hcl.Diagnostics {
	var diags hcl.Diagnostics
	inputs := map[string]inputValue{}

	for _, kv := range p.opts.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "PLAN_VAR_") {
			continue
		}
		name := strings.TrimPrefix(k, "PLAN_VAR_")
		if _, declared := p.varByName[name]; !declared {
			continue // the environment may be shared by several plans
		}
		inputs[name] = inputValue{raw: v, source: k, rng: cliRange(k)}
	}

	for _, vf := range p.opts.VarFiles {
		src, err := os.ReadFile(vf)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read variables file",
				Detail: err.Error()})
			continue
		}
		var f *hcl.File
		var d hcl.Diagnostics
		if strings.HasSuffix(vf, ".json") {
			f, d = hcljson.Parse(src, vf)
		} else {
			f, d = hclsyntax.ParseConfig(src, vf, hcl.InitialPos)
		}
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		p.files[vf] = f
		attrs, d := f.Body.JustAttributes()
		diags = append(diags, d...)
		for _, a := range sortedAttrs(attrs) {
			if _, declared := p.varByName[a.Name]; !declared {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Undeclared variable",
					Detail:   fmt.Sprintf("The plan declares no variable %q.%s", a.Name, didYouMean(a.Name, p.varNames())),
					Subject:  a.NameRange.Ptr(),
				})
				continue
			}
			inputs[a.Name] = inputValue{expr: a.Expr, source: vf, rng: a.Expr.Range()}
		}
	}

	for _, kv := range p.opts.Vars {
		name, raw, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --var",
				Detail: fmt.Sprintf("--var takes NAME=VALUE, got %q.", redactVarArg(kv))})
			continue
		}
		if _, declared := p.varByName[name]; !declared {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
				Detail: fmt.Sprintf("--var %s: the plan declares no variable %q.%s", name, name, didYouMean(name, p.varNames()))})
			continue
		}
		inputs[name] = inputValue{raw: raw, source: "--var " + name, rng: cliRange("--var " + name)}
	}

	for _, v := range p.vars {
		val := v.def
		if in, ok := inputs[v.name]; ok {
			var d hcl.Diagnostics
			val, d = p.inputToValue(v, in)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
		}
		if val == cty.NilVal {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail: fmt.Sprintf("Variable %q has no default. Give it with --var %s=VALUE, a --var-file, or PLAN_VAR_%s.",
					v.name, v.name, v.name),
				Subject: v.declRange.Ptr(),
			})
			continue
		}
		if v.sensitive {
			val = val.Mark(Sensitive)
			collectSecrets(val, p.secrets)
		}
		p.varVals[v.name] = val
	}
	if diags.HasErrors() {
		return diags
	}
	return append(diags, p.checkValidations()...)
}

func cliRange(what string) hcl.Range {
	return hcl.Range{Filename: "<" + what + ">", Start: hcl.InitialPos, End: hcl.InitialPos}
}

// redactVarArg hides the value of a malformed --var, which may be a secret.
func redactVarArg(kv string) string {
	if len(kv) > 20 {
		return kv[:3] + "..."
	}
	return kv
}

// inputToValue converts an input to the variable's type. Raw text (--var,
// PLAN_VAR_) is taken literally for string variables and parsed as an HCL
// expression for any other type, as Terraform does.
func (p *Plan) inputToValue(v *variable, in inputValue) (cty.Value, hcl.Diagnostics) {
	var val cty.Value
	if in.expr != nil {
		var d hcl.Diagnostics
		val, d = in.expr.Value(&hcl.EvalContext{Functions: p.functions(in.source)})
		if d.HasErrors() {
			return cty.NilVal, d
		}
	} else if v.typ == cty.String || v.typ == cty.DynamicPseudoType {
		val = cty.StringVal(in.raw)
	} else {
		expr, d := hclsyntax.ParseExpression([]byte(in.raw), in.source, hcl.InitialPos)
		if d.HasErrors() {
			return cty.NilVal, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("%s: the value of variable %q (type %s) must be an HCL expression such as %s.", in.source, v.name, typeName(v.typ), exampleFor(v.typ)),
			}}
		}
		val, d = expr.Value(&hcl.EvalContext{Functions: p.functions("")})
		if d.HasErrors() {
			return cty.NilVal, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("%s: variable %q needs a constant of type %s, such as %s.", in.source, v.name, typeName(v.typ), exampleFor(v.typ)),
			}}
		}
	}
	cv, err := convertTo(val, v.typ)
	if err != nil {
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("%s: variable %q needs a value of type %s: %s.", in.source, v.name, typeName(v.typ), err),
		}
		if in.expr != nil {
			d.Subject = in.rng.Ptr()
		}
		return cty.NilVal, hcl.Diagnostics{d}
	}
	return cv, nil
}

func typeName(t cty.Type) string {
	if t == cty.DynamicPseudoType {
		return "any"
	}
	return t.FriendlyNameForConstraint()
}

func exampleFor(t cty.Type) string {
	switch {
	case t == cty.Number:
		return "42"
	case t == cty.Bool:
		return "true"
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		return `["a", "b"]`
	case t.IsMapType() || t.IsObjectType():
		return `{ key = "value" }`
	}
	return `"text"`
}

func (p *Plan) varNames() []string {
	out := make([]string, 0, len(p.vars))
	for _, v := range p.vars {
		out = append(out, v.name)
	}
	return out
}

// checkValidations runs every variable's validation blocks with all
// variables in scope.
func (p *Plan) checkValidations() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, v := range p.vars {
		for _, val := range v.validations {
			ctx := p.staticContext(val.rng.Filename)
			refsOK := true
			for _, tr := range val.condition.Variables() {
				if tr.RootName() != "var" {
					refsOK = false
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid reference in variable validation",
						Detail:   "A validation condition may refer only to variables (var.NAME).",
						Subject:  tr.SourceRange().Ptr(),
					})
				}
			}
			if !refsOK {
				continue
			}
			cond, d := val.condition.Value(ctx)
			if d.HasErrors() {
				diags = append(diags, d...)
				continue
			}
			ok, err := asBool(cond)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid validation condition",
					Detail: capitalize(err.Error()) + ".", Subject: val.condition.Range().Ptr()})
				continue
			}
			if ok {
				continue
			}
			msgVal, d := val.errorMessage.Value(ctx)
			msg := "The value is not valid."
			if !d.HasErrors() {
				if isSensitive(msgVal) {
					msg = "The value is not valid (the error message refers to a sensitive value and is not shown)."
				} else if s, err := asString(msgVal); err == nil {
					msg = s
				}
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("var.%s: %s", v.name, msg),
				Subject:  val.condition.Range().Ptr(),
			})
		}
	}
	return diags
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
