package dsl

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// guardSensitive wraps a function so that its errors never show any part
// of a sensitive argument. Functions report bad input by quoting it, or a
// piece of it: jsondecode says "invalid character 'S'", formatdate echoes
// the verb, a CIDR error gives a length. Redacting the whole secret from
// the message afterwards does not catch a piece, so when any argument is
// sensitive the error says only which argument was bad.
func guardSensitive(name string, f function.Function) function.Function {
	params := f.Params()
	for i := range params {
		params[i].AllowMarked = true // to see the marks; f.Call unmarks as before
	}
	var varParam *function.Parameter
	if vp := f.VarParam(); vp != nil {
		c := *vp
		c.AllowMarked = true
		varParam = &c
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type: func(args []cty.Value) (cty.Type, error) {
			ty, err := f.ReturnTypeForValues(args)
			if err != nil {
				return ty, sensitiveError(name, f, args, err)
			}
			return ty, nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, err := f.Call(args)
			if err != nil {
				return v, sensitiveError(name, f, args, err)
			}
			return v, nil
		},
	})
}

// sensitiveError replaces err when an argument is sensitive.
func sensitiveError(name string, f function.Function, args []cty.Value, err error) error {
	idx := -1
	for i, a := range args {
		if isSensitive(a) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return err
	}
	param := "an argument"
	switch ps := f.Params(); {
	case idx < len(ps):
		param = fmt.Sprintf("%q", ps[idx].Name)
	case f.VarParam() != nil:
		param = fmt.Sprintf("%q", f.VarParam().Name)
	}
	return function.NewArgErrorf(idx, "%s rejected this value (argument %d, %s), which is sensitive, so the reason is not shown: it would show part of the value", name, idx+1, param)
}
