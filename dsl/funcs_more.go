package dsl

// Terraform's everyday functions that the cty stdlib lacks, and shellquote.

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"go.yaml.in/yaml/v3"
)

// moreFunctions are added to baseFunctions.
func moreFunctions() funcTable {
	return funcTable{
		"startswith":   strPredicate("prefix", strings.HasPrefix),
		"endswith":     strPredicate("suffix", strings.HasSuffix),
		"strcontains":  strPredicate("substr", strings.Contains),
		"alltrue":      boolFold(true),
		"anytrue":      boolFold(false),
		"sum":          sumFunc,
		"one":          oneFunc,
		"basename":     pathFunc(filepath.Base),
		"dirname":      pathFunc(filepath.Dir),
		"md5":          hashFunc(md5.New),
		"sha1":         hashFunc(sha1.New),
		"sha512":       hashFunc(sha512.New),
		"yamldecode":   yamlDecodeFunc,
		"cidrnetmask":  cidrNetmaskFunc,
		"cidrsubnets":  cidrSubnetsFunc,
		"sensitive":    sensitiveFunc,
		"nonsensitive": nonsensitiveFunc,
		"shellquote":   shellQuoteFunc,
	}
}

func strPredicate(second string, pred func(s, x string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: second, Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(pred(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// boolFold is alltrue (all: true) or anytrue (all: false).
func boolFold(all bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				_, v := it.Element()
				if !v.IsKnown() {
					return cty.UnknownVal(cty.Bool), nil
				}
				if v.IsNull() {
					return cty.NilVal, errors.New("the list has a null element")
				}
				if v.True() != all {
					return cty.BoolVal(!all), nil
				}
			}
			return cty.BoolVal(all), nil
		},
	})
}

var sumFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Number)}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].LengthInt() == 0 {
			return cty.NilVal, errors.New("cannot sum an empty list")
		}
		total := new(big.Float)
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if !v.IsKnown() {
				return cty.UnknownVal(cty.Number), nil
			}
			if v.IsNull() {
				return cty.NilVal, errors.New("the list has a null element")
			}
			total.Add(total, v.AsBigFloat())
		}
		return cty.NumberVal(total), nil
	},
})

var oneFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty.IsListType() || ty.IsSetType():
			return ty.ElementType(), nil
		case ty.IsTupleType():
			ets := ty.TupleElementTypes()
			switch len(ets) {
			case 0:
				return cty.DynamicPseudoType, nil
			case 1:
				return ets[0], nil
			}
			return cty.NilType, errors.New("must be a list, set or tuple of at most one element")
		}
		return cty.NilType, errors.New("must be a list, set or tuple")
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		v := args[0]
		switch n := v.LengthInt(); n {
		case 0:
			return cty.NullVal(retType), nil
		case 1:
			it := v.ElementIterator()
			it.Next()
			_, e := it.Element()
			return e, nil
		default:
			return cty.NilVal, fmt.Errorf("must have at most one element; it has %d", n)
		}
	},
})

func pathFunc(f func(string) string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(f(args[0].AsString())), nil
		},
	})
}

func hashFunc(h func() hash.Hash) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			d := h()
			d.Write([]byte(args[0].AsString()))
			return cty.StringVal(hex.EncodeToString(d.Sum(nil))), nil
		},
	})
}

// maxYAMLInput bounds yamldecode's input (aliases can expand a small
// document a lot; the decoder has its own bound on that).
const maxYAMLInput = 4 << 20

var yamlDecodeFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "src", Type: cty.String}},
	Type:   function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		src := args[0].AsString()
		if len(src) > maxYAMLInput {
			return cty.NilVal, fmt.Errorf("the YAML text is larger than %d bytes", maxYAMLInput)
		}
		var doc any
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			return cty.NilVal, fmt.Errorf("invalid YAML: %v", err)
		}
		return yamlToCty(doc, 0)
	},
})

func yamlToCty(v any, depth int) (cty.Value, error) {
	if depth > maxNesting {
		return cty.NilVal, errors.New("the YAML document nests too deeply")
	}
	switch v := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	case string:
		return cty.StringVal(v), nil
	case bool:
		return cty.BoolVal(v), nil
	case int:
		return cty.NumberIntVal(int64(v)), nil
	case int64:
		return cty.NumberIntVal(v), nil
	case uint64:
		return cty.NumberUIntVal(v), nil
	case float64:
		return cty.NumberFloatVal(v), nil
	case []any:
		if len(v) == 0 {
			return cty.EmptyTupleVal, nil
		}
		vals := make([]cty.Value, len(v))
		for i, e := range v {
			cv, err := yamlToCty(e, depth+1)
			if err != nil {
				return cty.NilVal, err
			}
			vals[i] = cv
		}
		return cty.TupleVal(vals), nil
	case map[string]any:
		if len(v) == 0 {
			return cty.EmptyObjectVal, nil
		}
		vals := make(map[string]cty.Value, len(v))
		for k, e := range v {
			cv, err := yamlToCty(e, depth+1)
			if err != nil {
				return cty.NilVal, err
			}
			vals[k] = cv
		}
		return cty.ObjectVal(vals), nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = e
		}
		return yamlToCty(m, depth)
	}
	return cty.StringVal(fmt.Sprint(v)), nil
}

var cidrNetmaskFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		pfx, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid CIDR prefix %q", args[0].AsString())
		}
		if !pfx.Addr().Is4() {
			return cty.NilVal, errors.New("only IPv4 prefixes have a dotted netmask")
		}
		m := ^uint32(0) << (32 - pfx.Bits())
		if pfx.Bits() == 0 {
			m = 0
		}
		return cty.StringVal(fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)), nil
	},
})

// cidrSubnetsFunc allocates consecutive subnets of the given sizes, each
// aligned to its own size, as Terraform's cidrsubnets does.
var cidrSubnetsFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "prefix", Type: cty.String}},
	VarParam: &function.Parameter{Name: "newbits", Type: cty.Number},
	Type:     function.StaticReturnType(cty.List(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		pfx, err := netip.ParsePrefix(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid CIDR prefix %q", args[0].AsString())
		}
		pfx = pfx.Masked()
		if len(args) == 1 {
			return cty.ListValEmpty(cty.String), nil
		}
		bitLen := pfx.Addr().BitLen()
		next := new(big.Int) // offset from the base, in addresses
		end := new(big.Int).Lsh(big.NewInt(1), uint(bitLen-pfx.Bits()))
		var out []cty.Value
		for i, a := range args[1:] {
			nb, ok := wholeNumber(a)
			if !ok || nb.Sign() < 1 || !nb.IsInt64() || pfx.Bits()+int(nb.Int64()) > bitLen {
				return cty.NilVal, function.NewArgErrorf(i+1, "newbits must be a whole number from 1 to %d", bitLen-pfx.Bits())
			}
			bits := pfx.Bits() + int(nb.Int64())
			size := new(big.Int).Lsh(big.NewInt(1), uint(bitLen-bits))
			// Round next up to a multiple of size.
			rem := new(big.Int).Mod(next, size)
			if rem.Sign() != 0 {
				next.Add(next, new(big.Int).Sub(size, rem))
			}
			if new(big.Int).Add(next, size).Cmp(end) > 0 {
				return cty.NilVal, function.NewArgErrorf(i+1, "not enough room left in %s for a /%d", pfx, bits)
			}
			out = append(out, cty.StringVal(netip.PrefixFrom(addAddr(pfx.Addr(), next), bits).String()))
			next.Add(next, size)
		}
		return cty.ListVal(out), nil
	},
})

var sensitiveFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true,
		AllowNull: true, AllowUnknown: true, AllowDynamicType: true}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return args[0].Mark(Sensitive), nil
	},
})

var nonsensitiveFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true,
		AllowNull: true, AllowUnknown: true, AllowDynamicType: true}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, marks := args[0].Unmark()
		delete(marks, Sensitive)
		return v.WithMarks(marks), nil
	},
})

// shellQuoteFunc quotes a string, or each string of a list (joined by
// spaces), for a POSIX shell: every command goes through sh -c, and this
// is how a value becomes one word of it whatever it contains.
var shellQuoteFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		ty := v.Type()
		if ty.IsListType() || ty.IsSetType() || ty.IsTupleType() {
			var words []string
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				s, err := convertTo(e, cty.String)
				if err != nil || s.IsNull() {
					return cty.NilVal, errors.New("every element must be a string")
				}
				if !s.IsKnown() {
					return cty.UnknownVal(cty.String), nil
				}
				words = append(words, shellQuote(s.AsString()))
			}
			return cty.StringVal(strings.Join(words, " ")), nil
		}
		s, err := convertTo(v, cty.String)
		if err != nil || s.IsNull() {
			return cty.NilVal, errors.New("a string, or a list of strings, is required")
		}
		return cty.StringVal(shellQuote(s.AsString())), nil
	},
})

// shellQuote is s in single quotes, each ' written as '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fileBase64Func and fileSetFunc read local files relative to the plan
// file, like file().
func (p *Plan) fileBase64Func(from string, rec readRecorder) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, resolved, err := p.readRel(from, args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			if rec != nil {
				rec(resolved, b)
			}
			return cty.StringVal(base64.StdEncoding.EncodeToString(b)), nil
		},
	})
}

// maxFileset bounds how many files fileset walks.
const maxFileset = 10000

func (p *Plan) fileSetFunc(from string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "pattern", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Set(cty.String)),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			base, pattern := args[0].AsString(), args[1].AsString()
			if _, err := path.Match(strings.ReplaceAll(pattern, "**", "*"), ""); err != nil {
				return cty.NilVal, function.NewArgErrorf(1, "invalid pattern %q: %v", pattern, err)
			}
			resolved, fsys := p.resolvePath(from, base)
			if fsys == nil {
				fsys, resolved = os.DirFS(resolved), "."
			}
			var out []cty.Value
			err := fs.WalkDir(fsys, resolved, func(name string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					return nil
				}
				rel := strings.TrimPrefix(strings.TrimPrefix(name, resolved), "/")
				if resolved == "." {
					rel = name
				}
				if globMatch(strings.Split(pattern, "/"), strings.Split(rel, "/")) {
					if len(out) >= maxFileset {
						return fmt.Errorf("more than %d files match", maxFileset)
					}
					out = append(out, cty.StringVal(rel))
				}
				return nil
			})
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return cty.NilVal, fmt.Errorf("reading %s: %v", base, err)
			}
			if len(out) == 0 {
				return cty.SetValEmpty(cty.String), nil
			}
			sort.Slice(out, func(i, j int) bool { return out[i].AsString() < out[j].AsString() })
			return cty.SetVal(out), nil
		},
	})
}

// globMatch matches path segments against pattern segments, where "**"
// matches any number of segments and the others are path.Match patterns.
func globMatch(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if globMatch(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], segs[0])
	return ok && globMatch(pat[1:], segs[1:])
}
