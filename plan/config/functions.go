package config

import (
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// planFunctions are the functions a plan may call: go-cty's standard
// library implementations under the names Terraform users know. The set is
// small on purpose: string shaping, list shaping and conversions, enough to
// build namespace lists and URLs from variables. Nothing reads files, the
// clock or the network, so loading a plan stays deterministic.
func planFunctions() map[string]function.Function {
	fns := map[string]function.Function{
		// strings
		"format":     limitFormatWidth(stdlib.FormatFunc),
		"formatlist": limitFormatWidth(stdlib.FormatListFunc),
		"join":       stdlib.JoinFunc,
		"split":      stdlib.SplitFunc,
		"lower":      stdlib.LowerFunc,
		"upper":      stdlib.UpperFunc,
		"replace":    stdlib.ReplaceFunc,
		"trimspace":  stdlib.TrimSpaceFunc,
		"trimprefix": stdlib.TrimPrefixFunc,
		"trimsuffix": stdlib.TrimSuffixFunc,
		"substr":     stdlib.SubstrFunc,
		"strlen":     stdlib.StrlenFunc,
		// collections
		"concat":   stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc,
		"distinct": stdlib.DistinctFunc,
		"element":  stdlib.ElementFunc,
		"flatten":  stdlib.FlattenFunc,
		"keys":     stdlib.KeysFunc,
		"length":   stdlib.LengthFunc,
		"lookup":   stdlib.LookupFunc,
		"merge":    stdlib.MergeFunc,
		"range":    stdlib.RangeFunc,
		"reverse":  stdlib.ReverseListFunc,
		"slice":    stdlib.SliceFunc,
		"sort":     stdlib.SortFunc,
		"values":   stdlib.ValuesFunc,
		"coalesce": stdlib.CoalesceFunc,
		"compact":  stdlib.CompactFunc,
		// numbers
		"max": stdlib.MaxFunc,
		"min": stdlib.MinFunc,
		// conversions
		"tostring": stdlib.MakeToFunc(cty.String),
		"tobool":   stdlib.MakeToFunc(cty.Bool),
		"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	}
	// Results that can outgrow their arguments are measured before the
	// call; every result after it (see eval_budget.go).
	estimates := map[string]func([]cty.Value) int64{
		"range": rangeSize, "join": joinSize, "format": formatSize, "formatlist": formatlistSize, "replace": replaceSize,
	}
	for name, f := range fns {
		fns[name] = boundFunction(f, estimates[name])
	}
	return fns
}

// maxFormatWidth bounds the width and precision in a format verb: "%9999999d"
// would pad a string to gigabytes.
const maxFormatWidth = 1000

// limitFormatWidth wraps format or formatlist to refuse a format string with a
// width or precision above maxFormatWidth.
func limitFormatWidth(f function.Function) function.Function {
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 0 && args[0].IsKnown() && !args[0].IsNull() && args[0].Type() == cty.String {
				if n := largestWidth(args[0].AsString()); n > maxFormatWidth {
					return cty.NilVal, function.NewArgErrorf(0, "width or precision %d is above the limit of %d", n, maxFormatWidth)
				}
			}
			return f.Call(args)
		},
	})
}

// largestWidth returns the largest width or precision among the verbs of a
// format string, saturating above maxFormatWidth.
func largestWidth(format string) int {
	largest := 0
	digits := func(i int) (int, int) {
		n := 0
		for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
			n = min(n*10+int(format[i]-'0'), maxFormatWidth+1)
		}
		return n, i
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			continue
		}
		for i < len(format) && strings.IndexByte("-+# 0", format[i]) >= 0 {
			i++
		}
		if i < len(format) && format[i] == '[' { // explicit argument index
			for i < len(format) && format[i] != ']' {
				i++
			}
			i++
		}
		var w, p int
		w, i = digits(i)
		if i < len(format) && format[i] == '.' {
			p, i = digits(i + 1)
		}
		largest = max(largest, w, p)
		i--
	}
	return largest
}

// FunctionNames lists the functions a plan may call, sorted; the docs and
// their test are kept in step with it.
func FunctionNames() []string {
	fns := planFunctions()
	names := make([]string, 0, len(fns))
	for n := range fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
