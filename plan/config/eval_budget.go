package config

import (
	"fmt"
	"math"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Evaluating a plan is bounded in two ways, so that a hostile plan gets a
// located diagnostic instead of exhausting memory:
//
//   - no value is larger than maxValueSize: not a function's result (checked
//     before the call for the functions whose result can outgrow their
//     arguments: range, join, format, formatlist, replace), and not an
//     attribute's or a local's value;
//   - all values the evaluation copies (every reference to a variable, local
//     or for-iterator, every collection a for expression walks and every
//     element it makes) together stay within maxEvalWork. This is what
//     bounds nested for expressions and templates that repeat a reference.
//
// Sizes are counted in units by valueSize: a string's bytes, 16 per number,
// one per element or other value.
const (
	maxValueSize = 1 << 20
	maxEvalWork  = 4 << 20
)

// chargeFunc is the hidden function the evaluator wraps around references
// and for expressions to count their work; its name cannot clash with a
// plan's, since plan functions are a fixed set.
const chargeFunc = "meshwave_charge"

// errTooMuchWork is the charge function's error, kept to recognise its
// diagnostics.
var errTooMuchWork = fmt.Errorf("evaluating this plan copies more than %d MiB of values; "+
	"a plan never needs that much (look for nested for expressions or repeated references to large values)", maxEvalWork>>20)

// valueSize measures v in the units above, stopping early once it passes
// limit.
func valueSize(v cty.Value, limit int64) int64 {
	var n int64
	_ = cty.Walk(v, func(_ cty.Path, el cty.Value) (bool, error) {
		switch {
		case !el.IsKnown() || el.IsNull():
			n++
		case el.Type() == cty.String:
			n += int64(len(el.AsString())) + 1
		case el.Type() == cty.Number:
			n += 16
		default:
			n++
		}
		return n <= limit, nil
	})
	return n
}

// chargeFunction returns the charge function, an identity that charges its
// argument's size to e's remaining work.
func (e *evaluator) chargeFunction() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType,
			AllowNull: true, AllowUnknown: true, AllowDynamicType: true, AllowMarked: true}},
		Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			e.work -= valueSize(args[0], max(e.work, 0)+1)
			if e.work < 0 {
				return cty.NilVal, errTooMuchWork
			}
			return args[0], nil
		},
	})
}

// instrument wraps, in place, the references and for expressions inside
// expr with the charge function. It returns expr, or its replacement when
// expr itself is a reference.
func instrument(expr hcl.Expression) hcl.Expression {
	x, ok := expr.(hclsyntax.Expression)
	if !ok {
		return expr
	}
	return instrumentNode(x)
}

func charged(x hclsyntax.Expression) hclsyntax.Expression {
	r := x.Range()
	return &hclsyntax.FunctionCallExpr{Name: chargeFunc, Args: []hclsyntax.Expression{x},
		NameRange: r, OpenParenRange: r, CloseParenRange: r}
}

func instrumentNode(x hclsyntax.Expression) hclsyntax.Expression {
	in := instrumentNode
	switch n := x.(type) {
	case *hclsyntax.ScopeTraversalExpr:
		return charged(n)
	case *hclsyntax.ForExpr:
		n.CollExpr = charged(in(n.CollExpr))
		if n.KeyExpr != nil {
			n.KeyExpr = charged(in(n.KeyExpr))
		}
		n.ValExpr = charged(in(n.ValExpr))
		if n.CondExpr != nil {
			n.CondExpr = in(n.CondExpr)
		}
	case *hclsyntax.BinaryOpExpr:
		n.LHS, n.RHS = in(n.LHS), in(n.RHS)
	case *hclsyntax.UnaryOpExpr:
		n.Val = in(n.Val)
	case *hclsyntax.ConditionalExpr:
		n.Condition, n.TrueResult, n.FalseResult = in(n.Condition), in(n.TrueResult), in(n.FalseResult)
	case *hclsyntax.FunctionCallExpr:
		for i := range n.Args {
			n.Args[i] = in(n.Args[i])
		}
	case *hclsyntax.TupleConsExpr:
		for i := range n.Exprs {
			n.Exprs[i] = in(n.Exprs[i])
		}
	case *hclsyntax.ObjectConsExpr:
		for i := range n.Items {
			// A bare word key is a name, not a reference: leave it.
			if k, ok := n.Items[i].KeyExpr.(*hclsyntax.ObjectConsKeyExpr); ok {
				if _, bare := k.Wrapped.(*hclsyntax.ScopeTraversalExpr); !bare || k.ForceNonLiteral {
					k.Wrapped = in(k.Wrapped)
				}
			}
			n.Items[i].ValueExpr = in(n.Items[i].ValueExpr)
		}
	case *hclsyntax.TemplateExpr:
		for i := range n.Parts {
			n.Parts[i] = in(n.Parts[i])
		}
	case *hclsyntax.TemplateWrapExpr:
		n.Wrapped = in(n.Wrapped)
	case *hclsyntax.TemplateJoinExpr:
		n.Tuple = in(n.Tuple)
	case *hclsyntax.IndexExpr:
		n.Collection, n.Key = in(n.Collection), in(n.Key)
	case *hclsyntax.SplatExpr:
		n.Source = in(n.Source)
	case *hclsyntax.RelativeTraversalExpr:
		n.Source = in(n.Source)
	case *hclsyntax.ParenthesesExpr:
		n.Expression = in(n.Expression)
	}
	return x
}

// explainWork rewrites the function-call diagnostics of the charge function
// into what they mean, and keeps only the first: once the work is used up,
// every remaining iteration fails the same way.
func explainWork(diags hcl.Diagnostics) hcl.Diagnostics {
	out := diags[:0:0]
	seen := false
	for _, d := range diags {
		extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d)
		if ok && extra.CalledFunctionName() == chargeFunc {
			if seen {
				continue
			}
			seen = true
			d.Summary = "Plan too expensive to evaluate"
			d.Detail = capitalise(extra.FunctionCallError().Error()) + "."
		}
		out = append(out, d)
	}
	return out
}

func capitalise(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// boundFunction makes f refuse a call whose result would be larger than
// maxValueSize: estimate, when not nil, measures the result from the
// arguments before the call; every result is measured after it.
func boundFunction(f function.Function, estimate func(args []cty.Value) int64) function.Function {
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      f.Params(),
		VarParam:    f.VarParam(),
		Type:        f.ReturnTypeForValues,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if estimate != nil && allKnown(args) {
				if n := estimate(args); n > maxValueSize {
					return cty.NilVal, errTooLarge
				}
			}
			v, err := f.Call(args)
			if err != nil {
				return v, err
			}
			if valueSize(v, maxValueSize) > maxValueSize {
				return cty.NilVal, errTooLarge
			}
			return v, nil
		},
	})
}

var errTooLarge = fmt.Errorf("the result would be larger than the limit of %d MiB of values", maxValueSize>>20)

func allKnown(args []cty.Value) bool {
	for _, a := range args {
		if !a.IsWhollyKnown() || a.IsNull() {
			return false
		}
	}
	return true
}

// rangeSize is range()'s result size: its element count times a number's.
func rangeSize(args []cty.Value) int64 {
	num := func(v cty.Value) (float64, bool) {
		if v.Type() != cty.Number {
			return 0, false
		}
		f, _ := v.AsBigFloat().Float64()
		return f, !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	start, limit, step := 0.0, 0.0, 1.0
	var ok [3]bool
	ok[1], ok[2] = true, true
	switch len(args) {
	case 1:
		limit, ok[0] = num(args[0])
	case 2:
		start, ok[0] = num(args[0])
		limit, ok[1] = num(args[1])
		if limit < start {
			step = -1
		}
	case 3:
		start, ok[0] = num(args[0])
		limit, ok[1] = num(args[1])
		step, ok[2] = num(args[2])
	default:
		return 0 // the function reports the wrong arity
	}
	if !ok[0] || !ok[1] || !ok[2] || step == 0 {
		return 0
	}
	count := math.Ceil((limit - start) / step)
	if count <= 0 {
		return 0
	}
	return int64(min(count, maxValueSize)) * 16
}

// stringSizes returns the sizes of the strings in v (a string or a
// collection of them), and the size of the largest.
func stringSizes(v cty.Value) (total, largest int64) {
	_ = cty.Walk(v, func(_ cty.Path, el cty.Value) (bool, error) {
		if el.Type() == cty.String && el.IsKnown() && !el.IsNull() {
			n := int64(len(el.AsString()))
			total += n
			largest = max(largest, n)
		}
		return total <= maxValueSize*4, nil
	})
	return total, largest
}

func lengthOf(v cty.Value) int64 {
	if v.Type().IsCollectionType() || v.Type().IsTupleType() {
		return int64(v.LengthInt())
	}
	return 1
}

// joinSize: every element plus a separator between each two.
func joinSize(args []cty.Value) int64 {
	sep, _ := stringSizes(args[0])
	var total, count int64
	for _, list := range args[1:] {
		n, _ := stringSizes(list)
		total += n
		count += lengthOf(list)
	}
	return total + max(count-1, 0)*sep
}

// formatSize bounds format's result: each verb may print the largest
// argument (widths are already limited).
func formatSize(args []cty.Value) int64 {
	f := int64(len(args[0].AsString()))
	var largest int64 = 32 // a number or bool printed
	for _, a := range args[1:] {
		_, l := stringSizes(a)
		largest = max(largest, l, valueSize(a, maxValueSize))
	}
	return f + f/2*(largest+maxFormatWidth)
}

// formatlistSize: one format per element of the longest list argument.
func formatlistSize(args []cty.Value) int64 {
	rows := int64(1)
	for _, a := range args[1:] {
		rows = max(rows, lengthOf(a))
	}
	return rows * formatSize(args)
}

// replaceSize bounds replace's result: every occurrence of the substring
// (at most one per byte, plus one) replaced by the replacement.
func replaceSize(args []cty.Value) int64 {
	s, _ := stringSizes(args[0])
	sub, _ := stringSizes(args[1])
	repl, _ := stringSizes(args[2])
	return s + (s/max(sub, 1)+1)*repl
}

// literal evaluates an expression that may hold no references or function
// calls (a default, a var file's or -var's value), counting its work like
// any other: a literal for expression can still multiply.
func (e *evaluator) literal(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	if e.work < 0 {
		return cty.DynamicVal, nil
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{chargeFunc: e.ctx.Functions[chargeFunc]}}
	v, diags := instrument(expr).Value(ctx)
	diags = explainWork(diags)
	if !diags.HasErrors() && valueSize(v, maxValueSize) > maxValueSize {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Value too large",
			Detail:   fmt.Sprintf("This value is larger than the limit of %d MiB of values; a plan never needs that much.", maxValueSize>>20),
			Subject:  expr.Range().Ptr(),
		})
	}
	return v, diags
}
