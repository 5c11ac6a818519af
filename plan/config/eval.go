package config

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// evaluator turns attribute expressions into Go values with one
// hcl.EvalContext (var.*, local.* and the plan functions).
//
// One mistake gives one diagnostic: an expression that refers to an
// undeclared name is reported once and not evaluated, and a variable or
// local whose own value failed becomes unknown, which every later use skips
// silently, because the diagnostic that made it unknown already explains it.
type evaluator struct {
	ctx      *hcl.EvalContext
	declared map[string]bool // variable names
	locals   map[string]*hcl.Attribute
	diags    hcl.Diagnostics
	// withRefs are the evaluated attributes that refer to variables or
	// locals, for showValues.
	withRefs []*hcl.Attribute
	// work is what evaluation may still copy (see eval_budget.go).
	work int64
	// instrumented are the attributes whose expressions count their work.
	instrumented map[*hcl.Attribute]bool
}

func newEvaluator() *evaluator {
	e := &evaluator{
		ctx: &hcl.EvalContext{
			Variables: map[string]cty.Value{
				"var":   cty.EmptyObjectVal,
				"local": cty.EmptyObjectVal,
			},
			Functions: planFunctions(),
		},
		declared:     map[string]bool{},
		locals:       map[string]*hcl.Attribute{},
		work:         maxEvalWork,
		instrumented: map[*hcl.Attribute]bool{},
	}
	e.ctx.Functions[chargeFunc] = e.chargeFunction()
	return e
}

func (e *evaluator) errorf(subject hcl.Range, summary, format string, args ...any) {
	e.diags = append(e.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// undeclaredRefs reports references to variables and locals that no block
// declares, and whether there were any.
func (e *evaluator) undeclaredRefs(expr hcl.Expression) bool {
	bad := false
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if (root != "var" && root != "local") || len(tr) < 2 {
			continue
		}
		var name string
		switch step := tr[1].(type) {
		case hcl.TraverseAttr:
			name = step.Name
		case hcl.TraverseIndex:
			if step.Key.Type() != cty.String || !step.Key.IsKnown() || step.Key.IsNull() {
				continue
			}
			name = step.Key.AsString()
		default:
			continue
		}
		rng := hcl.RangeBetween(tr[0].SourceRange(), tr[1].SourceRange())
		switch {
		case root == "var" && !e.declared[name]:
			var names []string
			for n := range e.declared {
				names = append(names, n)
			}
			e.errorf(rng, "Reference to undeclared input variable",
				"No variable %q is declared.%s Declare it with a variable %q {} block.", name, suggest(name, names), name)
			bad = true
		case root == "local" && e.locals[name] == nil:
			var names []string
			for n := range e.locals {
				names = append(names, n)
			}
			e.errorf(rng, "Reference to undeclared local value",
				"No local value %q is declared.%s Declare it in a locals {} block.", name, suggest(name, names))
			bad = true
		}
	}
	return bad
}

// showValues makes a diagnostic about a value computed from variables or
// locals show what they were ("with var.soak as "ten minutes""), by
// attaching the expression it points into and the evaluation context.
func (e *evaluator) showValues(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Subject == nil || d.Expression != nil || d.Summary == "Value too large" {
			// A value over the size limit is not worth printing.
			continue
		}
		for _, attr := range e.withRefs {
			r := attr.Expr.Range()
			if r.Filename == d.Subject.Filename && r.Start.Byte <= d.Subject.Start.Byte && d.Subject.End.Byte <= r.End.Byte {
				d.Expression, d.EvalContext = attr.Expr, e.ctx
				break
			}
		}
	}
}

// suggest returns " Did you mean "x"?" for the closest of names, if one is
// close enough to be a likely typo, else "".
func suggest(given string, names []string) string {
	sort.Strings(names)
	best, bestDist := "", 3
	for _, n := range names {
		if d := levenshtein.Distance(given, n, nil); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// value evaluates attr and converts it to ty. ok is false when the value is
// unusable; a diagnostic has then been recorded (now or earlier).
func (e *evaluator) value(attr *hcl.Attribute, ty cty.Type) (v cty.Value, ok bool) {
	if e.undeclaredRefs(attr.Expr) {
		return cty.NilVal, false
	}
	if e.work < 0 {
		// The plan already used up its evaluation work; that error
		// stands for every value after it.
		return cty.NilVal, false
	}
	if len(attr.Expr.Variables()) > 0 {
		e.withRefs = append(e.withRefs, attr)
	}
	if !e.instrumented[attr] {
		attr.Expr = instrument(attr.Expr)
		e.instrumented[attr] = true
	}
	v, d := attr.Expr.Value(e.ctx)
	d = explainWork(d)
	e.diags = append(e.diags, d...)
	if d.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	if valueSize(v, maxValueSize) > maxValueSize {
		e.errorf(attr.Expr.Range(), "Value too large",
			"The value of %q is larger than the limit of %d MiB of values; a plan never needs that much.", attr.Name, maxValueSize>>20)
		return cty.NilVal, false
	}
	if v.IsNull() {
		e.errorf(attr.Expr.Range(), "Invalid value", "The argument %q must not be null.", attr.Name)
		return cty.NilVal, false
	}
	conv, err := convert.Convert(v, ty)
	if err != nil {
		e.errorf(attr.Expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for attribute %q: %s required, got %s.", attr.Name, friendlyType(ty), friendlyType(v.Type()))
		return cty.NilVal, false
	}
	return conv, true
}

// friendlyType names a type the way a plan author writes it.
func friendlyType(ty cty.Type) string {
	switch {
	case ty == cty.DynamicPseudoType:
		return "any value"
	case ty.IsTupleType():
		return "a list"
	case ty.IsObjectType():
		return "an object"
	case ty.IsListType() && ty.ElementType() == cty.String:
		return "a list of strings"
	}
	return ty.FriendlyName()
}

func (e *evaluator) str(attr *hcl.Attribute) (string, bool) {
	v, ok := e.value(attr, cty.String)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (e *evaluator) boolean(attr *hcl.Attribute) (bool, bool) {
	v, ok := e.value(attr, cty.Bool)
	if !ok {
		return false, false
	}
	return v.True(), true
}

func (e *evaluator) number(attr *hcl.Attribute) (float64, bool) {
	v, ok := e.value(attr, cty.Number)
	if !ok {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	if math.IsInf(f, 0) {
		e.errorf(attr.Expr.Range(), "Invalid number", "The argument %q is too large.", attr.Name)
		return 0, false
	}
	return f, true
}

// integer evaluates a whole number within [min, max].
func (e *evaluator) integer(attr *hcl.Attribute, min, max int) (int, bool) {
	v, ok := e.value(attr, cty.Number)
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	// Printed through float64: the shortest exact decimal of a big.Float
	// can be enormous.
	f, _ := bf.Float64()
	if !bf.IsInt() {
		e.errorf(attr.Expr.Range(), "Invalid number", "The argument %q must be a whole number, got %g.", attr.Name, f)
		return 0, false
	}
	if bf.Cmp(big.NewFloat(float64(min))) < 0 || bf.Cmp(big.NewFloat(float64(max))) > 0 {
		e.errorf(attr.Expr.Range(), "Number out of range", "The argument %q must be between %d and %d, got %g.", attr.Name, min, max, f)
		return 0, false
	}
	n, _ := bf.Int64()
	return int(n), true
}

// stringList evaluates a list of strings; ranges holds each element's
// source range when the list is written out literally, else the whole
// expression's range for every element.
func (e *evaluator) stringList(attr *hcl.Attribute) (vals []string, ranges []hcl.Range, ok bool) {
	v, ok := e.value(attr, cty.List(cty.String))
	if !ok {
		return nil, nil, false
	}
	elems := elementRanges(attr.Expr)
	for i, el := range v.AsValueSlice() {
		if el.IsNull() {
			e.errorf(attr.Expr.Range(), "Invalid value", "The list %q must not contain null.", attr.Name)
			return nil, nil, false
		}
		vals = append(vals, el.AsString())
		if len(elems) == v.LengthInt() {
			ranges = append(ranges, elems[i])
		} else {
			ranges = append(ranges, attr.Expr.Range())
		}
	}
	return vals, ranges, true
}

// elementRanges returns the ranges of a literal list's elements, or nil.
func elementRanges(expr hcl.Expression) []hcl.Range {
	exprs, d := hcl.ExprList(expr)
	if d.HasErrors() {
		return nil
	}
	out := make([]hcl.Range, len(exprs))
	for i, x := range exprs {
		out[i] = x.Range()
	}
	return out
}

// duration evaluates a Go duration string ("90s", "10m", "1h30m") that must
// be positive, or zero when allowZero.
func (e *evaluator) duration(attr *hcl.Attribute, allowZero bool) (time.Duration, bool) {
	s, ok := e.str(attr)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		e.errorf(attr.Expr.Range(), "Invalid duration",
			"The argument %q must be a duration: a number and a unit (s, m or h), e.g. \"90s\", \"10m\", \"1h30m\"; got %q.", attr.Name, s)
		return 0, false
	}
	if d < 0 || (d == 0 && !allowZero) {
		e.errorf(attr.Expr.Range(), "Invalid duration", "The argument %q must be positive, got %q.", attr.Name, s)
		return 0, false
	}
	return d, true
}

// required reports a missing argument of a block the way HCL does, and
// returns whether attr is present.
func (e *evaluator) required(attr *hcl.Attribute, name string, body hcl.Body) bool {
	if attr != nil {
		return true
	}
	e.errorf(body.MissingItemRange(), "Missing required argument",
		"The argument %q is required, but no definition was found.", name)
	return false
}
