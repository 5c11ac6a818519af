package plan

import (
	"sort"

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
	return map[string]function.Function{
		// strings
		"format":     stdlib.FormatFunc,
		"formatlist": stdlib.FormatListFunc,
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
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool":   stdlib.MakeToFunc(cty.Bool),
		"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	}
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
