package dsl

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

type funcTable = map[string]function.Function

// readRecorder is told about every file file()/templatefile() read, so that
// a node's fingerprint covers the content of the templates it uses.
type readRecorder func(path string, content []byte)

// baseFunctions are the functions that do not depend on the plan file's
// location: the cty stdlib (without operator functions) plus the design's
// extras.
func baseFunctions() funcTable {
	t := rawFunctions()
	for name, f := range moreFunctions() {
		t[name] = f
	}
	for name, f := range t {
		if name != "try" && name != "can" { // they take expressions, not values
			t[name] = guardSensitive(name, f)
		}
	}
	return t
}

func rawFunctions() funcTable {
	return funcTable{
		"abs":             stdlib.AbsoluteFunc,
		"base64decode":    base64DecodeFunc,
		"base64encode":    base64EncodeFunc,
		"can":             tryfunc.CanFunc,
		"ceil":            stdlib.CeilFunc,
		"chomp":           stdlib.ChompFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"cidrhost":        cidrHostFunc,
		"cidrsubnet":      cidrSubnetFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"csvdecode":       stdlib.CSVDecodeFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"floor":           stdlib.FloorFunc,
		"format":          stdlib.FormatFunc,
		"formatdate":      stdlib.FormatDateFunc,
		"formatlist":      stdlib.FormatListFunc,
		"indent":          stdlib.IndentFunc,
		"join":            stdlib.JoinFunc,
		"jsondecode":      stdlib.JSONDecodeFunc,
		"jsonencode":      stdlib.JSONEncodeFunc,
		"keys":            stdlib.KeysFunc,
		"length":          lengthFunc,
		"log":             stdlib.LogFunc,
		"lookup":          stdlib.LookupFunc,
		"lower":           stdlib.LowerFunc,
		"max":             stdlib.MaxFunc,
		"merge":           stdlib.MergeFunc,
		"min":             stdlib.MinFunc,
		"parseint":        stdlib.ParseIntFunc,
		"pow":             stdlib.PowFunc,
		"range":           stdlib.RangeFunc,
		"regex":           stdlib.RegexFunc,
		"regexall":        stdlib.RegexAllFunc,
		"regex_replace":   stdlib.RegexReplaceFunc,
		"replace":         stdlib.ReplaceFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setproduct":      stdlib.SetProductFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
		"setunion":        stdlib.SetUnionFunc,
		"sha256":          sha256Func,
		"signum":          stdlib.SignumFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"split":           stdlib.SplitFunc,
		"strlen":          stdlib.StrlenFunc,
		"strrev":          stdlib.ReverseFunc,
		"substr":          stdlib.SubstrFunc,
		"timeadd":         stdlib.TimeAddFunc,
		"title":           stdlib.TitleFunc,
		"tobool":          stdlib.MakeToFunc(cty.Bool),
		"tolist":          stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":           stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber":        stdlib.MakeToFunc(cty.Number),
		"toset":           stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":        stdlib.MakeToFunc(cty.String),
		"trim":            stdlib.TrimFunc,
		"trimprefix":      stdlib.TrimPrefixFunc,
		"trimspace":       stdlib.TrimSpaceFunc,
		"trimsuffix":      stdlib.TrimSuffixFunc,
		"try":             tryfunc.TryFunc,
		"upper":           stdlib.UpperFunc,
		"values":          stdlib.ValuesFunc,
		"yamlencode":      yamlEncodeFunc,
		"zipmap":          stdlib.ZipmapFunc,
	}
}

// FunctionNames lists every function a plan may call, sorted.
func FunctionNames() []string {
	t := rawFunctions()
	for name, f := range moreFunctions() {
		t[name] = f
	}
	for _, name := range []string{"file", "fileexists", "filebase64", "fileset", "templatefile"} {
		t[name] = function.Function{}
	}
	return sortedKeys(t)
}

// functions returns the function table for expressions in the plan file
// `from` (file paths are relative to its directory).
func (p *Plan) functions(from string) funcTable {
	dir := p.planDir(from)
	p.funcMu.Lock()
	defer p.funcMu.Unlock()
	if t, ok := p.funcCache[dir]; ok {
		return t
	}
	t := p.functionsRec(from, nil)
	p.funcCache[dir] = t
	return t
}

// functionsRec is functions with a recorder of file reads; the table is not
// cached, so evaluators running concurrently do not share it.
func (p *Plan) functionsRec(from string, rec readRecorder) funcTable {
	t := baseFunctions()
	t["file"] = guardSensitive("file", p.fileFunc(from, rec))
	t["fileexists"] = guardSensitive("fileexists", p.fileExistsFunc(from))
	t["filebase64"] = guardSensitive("filebase64", p.fileBase64Func(from, rec))
	t["fileset"] = guardSensitive("fileset", p.fileSetFunc(from))
	t["templatefile"] = p.templateFileFunc(from, rec, t, 0)
	return t
}

func (p *Plan) fileFunc(from string, rec readRecorder) function.Function {
	return function.New(&function.Spec{
		Description: "Reads a file relative to the plan file.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, resolved, err := p.readRel(from, args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("%s is not valid UTF-8 text; use a file step with source for binary files", args[0].AsString())
			}
			if rec != nil {
				rec(resolved, b)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

func (p *Plan) fileExistsFunc(from string) function.Function {
	return function.New(&function.Spec{
		Description: "Says whether a file exists, relative to the plan file.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			_, _, err := p.readRel(from, args[0].AsString())
			return cty.BoolVal(err == nil), nil
		},
	})
}

// maxTemplateDepth bounds templatefile calls nested inside templates.
const maxTemplateDepth = 8

func (p *Plan) templateFileFunc(from string, rec readRecorder, table funcTable, depth int) function.Function {
	return function.New(&function.Spec{
		Description: "Renders a template file (relative to the plan file) with the given variables.",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowMarked: true, AllowNull: true},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if depth >= maxTemplateDepth {
				return cty.NilVal, errors.New("templates nested too deeply (a template including itself?)")
			}
			rel := args[0].AsString()
			b, resolved, err := p.readRel(from, rel)
			if err != nil {
				return cty.NilVal, err
			}
			if rec != nil {
				rec(resolved, b)
			}
			vars, marks := args[1].Unmark()
			if !vars.IsKnown() {
				return cty.UnknownVal(cty.String).WithMarks(marks), nil
			}
			tmpl, diags := hclsyntax.ParseTemplate(b, resolved, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.NilVal, errors.New(diagsText(diags))
			}
			ctxVars := map[string]cty.Value{}
			if !vars.IsNull() {
				ty := vars.Type()
				if !ty.IsObjectType() && !ty.IsMapType() {
					return cty.NilVal, errors.New("vars must be an object or map, as in { name = value }")
				}
				for k, v := range vars.AsValueMap() {
					if !hclsyntax.ValidIdentifier(k) {
						return cty.NilVal, fmt.Errorf("vars key %q is not a valid name for a template", k)
					}
					ctxVars[k] = v
				}
			}
			for _, tr := range tmpl.Variables() {
				if _, ok := ctxVars[tr.RootName()]; !ok {
					rng := tr.SourceRange()
					return cty.NilVal, fmt.Errorf("%s:%d,%d: template refers to %q, which vars does not give (vars has: %s)",
						rel, rng.Start.Line, rng.Start.Column, tr.RootName(), strings.Join(sortedKeys(ctxVars), ", "))
				}
			}
			inner := funcTable{}
			for k, f := range table {
				inner[k] = f
			}
			// Paths in a nested templatefile stay relative to the plan file.
			inner["templatefile"] = p.templateFileFunc(from, rec, inner, depth+1)
			out, diags := tmpl.Value(&hcl.EvalContext{Variables: ctxVars, Functions: inner})
			if diags.HasErrors() {
				return cty.NilVal, fmt.Errorf("%s: %s", rel, diagsText(diags))
			}
			out, outMarks := out.Unmark()
			if out.IsKnown() && !out.IsNull() && out.Type() != cty.String {
				cv, err := convertTo(out, cty.String)
				if err != nil {
					return cty.NilVal, fmt.Errorf("%s: the template's result must be a string: %w", rel, err)
				}
				out = cv
			}
			if !out.IsKnown() {
				out = cty.UnknownVal(cty.String)
			}
			return out.WithMarks(marks, outMarks), nil
		},
	})
}

func diagsText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		s := d.Summary
		if d.Detail != "" {
			s += ": " + d.Detail
		}
		if d.Subject != nil {
			s = fmt.Sprintf("%s:%d,%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

var base64EncodeFunc = function.New(&function.Spec{
	Description: "Encodes a string as base64.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
	},
})

var base64DecodeFunc = function.New(&function.Spec{
	Description: "Decodes a base64 string (the result must be UTF-8 text).",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.NilVal, errors.New("the string is not valid base64")
		}
		if !utf8.Valid(b) {
			return cty.NilVal, errors.New("the decoded bytes are not valid UTF-8")
		}
		return cty.StringVal(string(b)), nil
	},
})

var sha256Func = function.New(&function.Spec{
	Description: "Returns the hex SHA-256 digest of a string.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sum := sha256.Sum256([]byte(args[0].AsString()))
		return cty.StringVal(hex.EncodeToString(sum[:])), nil
	},
})

var cidrHostFunc = function.New(&function.Spec{
	Description: "Returns the address of host number hostnum in the prefix (negative numbers count from the end).",
	Params: []function.Parameter{
		{Name: "prefix", Type: cty.String},
		{Name: "hostnum", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		pfx, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid CIDR prefix %q", args[0].AsString())
		}
		num, ok := wholeNumber(args[1])
		if !ok {
			return cty.NilVal, errors.New("hostnum must be a whole number")
		}
		pfx = pfx.Masked()
		hostBits := pfx.Addr().BitLen() - pfx.Bits()
		size := new(big.Int).Lsh(big.NewInt(1), uint(hostBits))
		if num.Sign() < 0 {
			num = new(big.Int).Add(size, num)
		}
		if num.Sign() < 0 || num.Cmp(size) >= 0 {
			return cty.NilVal, fmt.Errorf("prefix %s has no host number %s", pfx, args[1].AsBigFloat().Text('f', -1))
		}
		return cty.StringVal(addAddr(pfx.Addr(), num).String()), nil
	},
})

var cidrSubnetFunc = function.New(&function.Spec{
	Description: "Returns subnet number netnum of the prefix extended by newbits bits.",
	Params: []function.Parameter{
		{Name: "prefix", Type: cty.String},
		{Name: "newbits", Type: cty.Number},
		{Name: "netnum", Type: cty.Number},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		pfx, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid CIDR prefix %q", args[0].AsString())
		}
		newbits, ok1 := wholeNumber(args[1])
		netnum, ok2 := wholeNumber(args[2])
		if !ok1 || !ok2 || newbits.Sign() < 0 || netnum.Sign() < 0 {
			return cty.NilVal, errors.New("newbits and netnum must be whole numbers, not negative")
		}
		pfx = pfx.Masked()
		bits := pfx.Bits() + int(newbits.Int64())
		if !newbits.IsInt64() || bits > pfx.Addr().BitLen() {
			return cty.NilVal, fmt.Errorf("%s cannot be extended by %s bits", pfx, newbits)
		}
		if netnum.BitLen() > int(newbits.Int64()) {
			return cty.NilVal, fmt.Errorf("netnum %s does not fit in %s bits", netnum, newbits)
		}
		off := new(big.Int).Lsh(netnum, uint(pfx.Addr().BitLen()-bits))
		return cty.StringVal(netip.PrefixFrom(addAddr(pfx.Addr(), off), bits).String()), nil
	},
})

func wholeNumber(v cty.Value) (*big.Int, bool) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return nil, false
	}
	i, _ := bf.Int(nil)
	return i, true
}

func addAddr(a netip.Addr, n *big.Int) netip.Addr {
	b := a.AsSlice()
	v := new(big.Int).SetBytes(b)
	v.Add(v, n)
	out := v.FillBytes(make([]byte, len(b)))
	r, _ := netip.AddrFromSlice(out)
	return r
}

var yamlEncodeFunc = function.New(&function.Spec{
	Description: "Encodes a value as YAML (block style).",
	Params:      []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowNull: true}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if !args[0].IsWhollyKnown() {
			return cty.UnknownVal(cty.String), nil
		}
		var buf bytes.Buffer
		writeYAML(&buf, args[0], 0, false)
		return cty.StringVal(buf.String()), nil
	},
})

// writeYAML writes v at the given indent. inline means the caller already
// wrote "key:" or "- " on the current line.
func writeYAML(w *bytes.Buffer, v cty.Value, indent int, inline bool) {
	pad := strings.Repeat("  ", indent)
	ty := v.Type()
	scalar := func(s string) {
		if inline {
			w.WriteString(" ")
		}
		w.WriteString(s + "\n")
	}
	switch {
	case v.IsNull():
		scalar("null")
	case ty == cty.String:
		scalar(strconv.Quote(v.AsString()))
	case ty == cty.Number:
		scalar(v.AsBigFloat().Text('f', -1))
	case ty == cty.Bool:
		scalar(strconv.FormatBool(v.True()))
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		if v.LengthInt() == 0 {
			scalar("[]")
			return
		}
		if inline {
			w.WriteString("\n")
		}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			w.WriteString(pad + "-")
			writeYAML(w, ev, indent+1, true)
		}
	case ty.IsMapType() || ty.IsObjectType():
		if v.LengthInt() == 0 {
			scalar("{}")
			return
		}
		if inline {
			w.WriteString("\n")
		}
		m := v.AsValueMap()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.WriteString(pad + yamlKey(k) + ":")
			writeYAML(w, m[k], indent+1, true)
		}
	default:
		scalar("null")
	}
}

func yamlKey(k string) string {
	if k != "" && strings.IndexFunc(k, func(r rune) bool {
		return !(r == '_' || r == '-' || r == '.' || r == '/' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 && !strings.ContainsAny(k[:1], "-.") {
		switch strings.ToLower(k) {
		case "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~":
		default:
			if _, err := strconv.ParseFloat(k, 64); err != nil {
				return k
			}
		}
	}
	return strconv.Quote(k)
}

// lengthFunc is the stdlib length, extended to strings (as in Terraform):
// the number of characters.
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of elements of a collection, or of characters of a string.",
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType,
		AllowDynamicType: true, AllowUnknown: true, AllowMarked: true}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		if ty == cty.String || ty == cty.DynamicPseudoType {
			return cty.Number, nil
		}
		return stdlib.LengthFunc.ReturnType([]cty.Type{ty})
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, marks := args[0].Unmark()
		if v.Type() == cty.String {
			if !v.IsKnown() {
				return cty.UnknownVal(cty.Number).WithMarks(marks), nil
			}
			r, err := stdlib.Strlen(v)
			return r.WithMarks(marks), err
		}
		if v.Type() == cty.DynamicPseudoType {
			return cty.UnknownVal(cty.Number).WithMarks(marks), nil
		}
		r, err := stdlib.Length(v)
		return r.WithMarks(marks), err
	},
})
