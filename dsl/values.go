package dsl

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// hostType is the cty type of host.NAME, target and the elements of
// group.NAME.hosts. Address falls back to the name, so that it is always
// something a command can use to reach the host.
var hostType = cty.Object(map[string]cty.Type{
	"name":    cty.String,
	"address": cty.String,
	"user":    cty.String,
	"port":    cty.Number,
	"vars":    cty.Map(cty.String),
})

// stepType is the cty type of step.NAME.
var stepType = cty.Object(map[string]cty.Type{
	"stdout":    cty.String,
	"stderr":    cty.String,
	"exit_code": cty.Number,
	"content":   cty.String,
	"changed":   cty.Bool,
	"skipped":   cty.Bool,
})

func hostValue(h *Host) cty.Value {
	vars := map[string]cty.Value{}
	for k, v := range h.Vars {
		vars[k] = cty.StringVal(v)
	}
	varsVal := cty.MapValEmpty(cty.String)
	if len(vars) > 0 {
		varsVal = cty.MapVal(vars)
	}
	addr := h.Address
	if addr == "" {
		addr = h.Name
	}
	return cty.ObjectVal(map[string]cty.Value{
		"name":    cty.StringVal(h.Name),
		"address": cty.StringVal(addr),
		"user":    cty.StringVal(h.User),
		"port":    cty.NumberIntVal(int64(h.Port)),
		"vars":    varsVal,
	})
}

func hostList(hs []*Host) cty.Value {
	if len(hs) == 0 {
		return cty.ListValEmpty(hostType)
	}
	vals := make([]cty.Value, len(hs))
	for i, h := range hs {
		vals[i] = hostValue(h)
	}
	return cty.ListVal(vals)
}

func convertTo(v cty.Value, ty cty.Type) (cty.Value, error) {
	cv, err := convert.Convert(v, ty)
	if err != nil {
		var pe cty.PathError
		if errors.As(err, &pe) && len(pe.Path) > 0 {
			return cty.NilVal, fmt.Errorf("at %s: %w", pathString(pe.Path), err)
		}
		return cty.NilVal, err
	}
	return cv, nil
}

func pathString(p cty.Path) string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case cty.GetAttrStep:
			b.WriteString("." + s.Name)
		case cty.IndexStep:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else if s.Key.Type() == cty.Number {
				fmt.Fprintf(&b, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			}
		}
	}
	return strings.TrimPrefix(b.String(), ".")
}

func asString(v cty.Value) (string, error) {
	v, _ = v.Unmark()
	if v.IsNull() {
		return "", errors.New("a string is required, not null")
	}
	if !v.IsKnown() {
		return "", errors.New("the value is not known until run time")
	}
	cv, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", errors.New("a string is required")
	}
	return cv.AsString(), nil
}

func asBool(v cty.Value) (bool, error) {
	v, _ = v.Unmark()
	if v.IsNull() {
		return false, errors.New("a bool is required, not null")
	}
	if !v.IsKnown() {
		return false, errors.New("the value is not known until run time")
	}
	cv, err := convert.Convert(v, cty.Bool)
	if err != nil {
		return false, errors.New("a bool (true or false) is required")
	}
	return cv.True(), nil
}

func asInt(v cty.Value) (int, error) {
	v, _ = v.Unmark()
	if v.IsNull() {
		return 0, errors.New("a number is required, not null")
	}
	if !v.IsKnown() {
		return 0, errors.New("the value is not known until run time")
	}
	cv, err := convert.Convert(v, cty.Number)
	if err != nil {
		return 0, errors.New("a number is required")
	}
	bf := cv.AsBigFloat()
	if !bf.IsInt() {
		return 0, errors.New("a whole number is required")
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i > 1<<31 || i < -(1<<31) {
		return 0, errors.New("the number is out of range")
	}
	return int(i), nil
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := out[i].Range, out[j].Range
		if ri.Filename != rj.Filename {
			return ri.Filename < rj.Filename
		}
		return ri.Start.Byte < rj.Start.Byte
	})
	return out
}

func sortedSecrets(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	// Longest first, so redacting "abc" never leaves half of "abcdef".
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}

// collectSecrets adds every string inside v that is marked sensitive, or
// lies inside a sensitive collection, to into.
func collectSecrets(v cty.Value, into map[string]struct{}) {
	collectSecretsIn(v, false, into)
}

func collectSecretsIn(v cty.Value, inSensitive bool, into map[string]struct{}) {
	if v == cty.NilVal {
		return
	}
	if v.HasMark(Sensitive) {
		inSensitive = true
	}
	v, _ = v.Unmark()
	if v.IsNull() || !v.IsKnown() {
		return
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		if inSensitive && v.AsString() != "" {
			into[v.AsString()] = struct{}{}
		}
	case ty == cty.Number:
		// Short numbers would redact too much ("1" everywhere); a bool
		// has nothing to hide worth redacting "true" for.
		if inSensitive {
			s, _ := convert.Convert(v, cty.String)
			if s.IsKnown() && !s.IsNull() && len(s.AsString()) > 3 {
				into[s.AsString()] = struct{}{}
			}
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		if !v.CanIterateElements() {
			return
		}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			collectSecretsIn(ev, inSensitive, into)
		}
	}
}

// isSensitive reports whether v or anything inside it is sensitive.
func isSensitive(v cty.Value) bool {
	if v == cty.NilVal {
		return false
	}
	_, pvm := v.UnmarkDeepWithPaths()
	for _, pm := range pvm {
		if _, ok := pm.Marks[Sensitive]; ok {
			return true
		}
	}
	return false
}

// redact replaces every secret in s with "(sensitive)".
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, "(sensitive)")
	}
	return s
}

// Redact replaces every occurrence of the given secrets in s with
// "(sensitive)"; secrets should be longest first (as Secrets returns them).
func Redact(s string, secrets []string) string { return redact(s, secrets) }
