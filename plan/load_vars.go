package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// planVariable is a declared input variable and the value it ended up with.
type planVariable struct {
	block *variableBlock
	ty    cty.Type
	value cty.Value
	set   bool // value came from a default or an input
}

func (v *planVariable) assign(val cty.Value) {
	v.value, v.set = val, true
}

// declareVariables decodes the variable blocks, then sets their values from
// defaults, the environment, var files and -var options (later wins), and
// puts them into the evaluation context as var.NAME. It returns every
// variable's final value for the source hash.
func (e *evaluator) declareVariables(blocks []*variableBlock, in VarInput, parser *hclparse.Parser, readFile func(string) ([]byte, error)) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vars := map[string]*planVariable{}
	var order []string
	for _, b := range blocks {
		if !hclsyntax.ValidIdentifier(b.Name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable name",
				Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", b.Name),
				Subject:  b.LabelRange.Ptr(),
			})
			continue
		}
		if prev, dup := vars[b.Name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate variable declaration",
				Detail:   fmt.Sprintf("The variable %q was already declared at %s.", b.Name, prev.block.DefRange),
				Subject:  b.LabelRange.Ptr(),
			})
			continue
		}
		v := &planVariable{block: b, ty: cty.DynamicPseudoType}
		vars[b.Name] = v
		order = append(order, b.Name)
		e.declared[b.Name] = true

		if b.Type != nil {
			ty, d := typeexpr.TypeConstraint(b.Type.Expr)
			diags = append(diags, d...)
			if !d.HasErrors() {
				v.ty = ty
			}
		}
		if b.Description != nil {
			// Defaults and descriptions are literals: they are read
			// before any variable has a value.
			if val, d := e.literal(b.Description.Expr); d.HasErrors() {
				diags = append(diags, d...)
			} else if _, err := convert.Convert(val, cty.String); err != nil || val.IsNull() {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid variable description",
					Detail:   "The description must be a string.",
					Subject:  b.Description.Expr.Range().Ptr(),
				})
			}
		}
		if b.Default != nil {
			val, d := e.literal(b.Default.Expr)
			diags = append(diags, d...)
			if !d.HasErrors() {
				v.assign(convertVariable(&diags, b.Name, v.ty, val, b.Default.Expr.Range().Ptr(), "default value"))
			} else {
				v.assign(cty.DynamicVal)
			}
		}
	}

	// The environment is shared by every plan a user runs, so values for
	// variables this plan does not declare are ignored, not errors.
	for _, kv := range in.Environ {
		name, val, found := strings.Cut(kv, "=")
		if !found || !strings.HasPrefix(name, VarEnvPrefix) {
			continue
		}
		name = strings.TrimPrefix(name, VarEnvPrefix)
		if v := vars[name]; v != nil {
			v.assign(e.rawVariableValue(&diags, v, val, VarEnvPrefix+name))
		}
	}

	for _, path := range in.VarFiles {
		diags = append(diags, e.setFromVarFile(vars, path, parser, readFile)...)
	}

	for _, opt := range in.Vars {
		name, val, found := strings.Cut(opt, "=")
		if !found || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid -var option",
				Detail:   fmt.Sprintf("The option -var %q is not NAME=VALUE, e.g. -var canary=demo-a.", opt),
			})
			continue
		}
		v := vars[name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The option -var %q sets a variable the plan does not declare.%s", opt, suggest(name, order)),
			})
			continue
		}
		v.assign(e.rawVariableValue(&diags, v, val, "-var "+name))
	}

	values := map[string]cty.Value{}
	for _, name := range order {
		v := vars[name]
		if !v.set {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail: fmt.Sprintf("The variable %q has no default, so it needs a value: -var %s=VALUE, a var file, or %s%s in the environment.",
					name, name, VarEnvPrefix, name),
				Subject: v.block.DefRange.Ptr(),
			})
			v.value = cty.DynamicVal
		}
		values[name] = v.value
	}
	e.ctx.Variables["var"] = cty.ObjectVal(values)
	return values, diags
}

// rawVariableValue reads a value given on the command line or in the
// environment: taken as is for string (and untyped) variables, parsed as an
// HCL literal (["a", "b"], 3, true) for any other type.
func (e *evaluator) rawVariableValue(diags *hcl.Diagnostics, v *planVariable, raw, origin string) cty.Value {
	if v.ty == cty.String || v.ty == cty.DynamicPseudoType {
		return cty.StringVal(raw)
	}
	name := fmt.Sprintf("<value for %s>", origin)
	if d := validateExpressionSource([]byte(raw), name); d.HasErrors() {
		*diags = append(*diags, d...)
		return cty.DynamicVal
	}
	expr, d := hclsyntax.ParseExpression([]byte(raw), name, hcl.InitialPos)
	if !d.HasErrors() {
		if nd := validateNumberLiterals(expr); nd.HasErrors() {
			*diags = append(*diags, nd...)
			return cty.DynamicVal
		}
	}
	var val cty.Value
	if !d.HasErrors() {
		val, d = e.literal(expr)
	}
	if d.HasErrors() {
		// HCL's own message ("Variables not allowed" for a bare word)
		// would not say what was expected.
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("The value %q from %s is not a literal of the variable's type, %s: write a number as 3, a bool as true, a list as [\"a\", \"b\"]. (%s)",
				raw, origin, typeexpr.TypeString(v.ty), d[0].Summary),
		})
		return cty.DynamicVal
	}
	return convertVariable(diags, v.block.Name, v.ty, val, nil, origin)
}

// convertVariable converts val to the variable's type; a failure is reported
// at subject, or with origin in the message when there is no source range.
func convertVariable(diags *hcl.Diagnostics, name string, ty cty.Type, val cty.Value, subject *hcl.Range, origin string) cty.Value {
	conv, err := convert.Convert(val, ty)
	if err != nil {
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("The %s for variable %q is %s, but the variable's type is %s.",
				origin, name, friendlyType(val.Type()), typeexpr.TypeString(ty)),
			Subject: subject,
		})
		return cty.DynamicVal
	}
	if !valueNumbersInRange(conv) {
		// A string such as "1e99999999" given for a number variable.
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Number out of range",
			Detail:   fmt.Sprintf("The %s for variable %q has a number beyond about ±1.8e308.", origin, name),
			Subject:  subject,
		})
		return cty.DynamicVal
	}
	return conv
}

// setFromVarFile applies a var file: NAME = VALUE lines with literal values.
func (e *evaluator) setFromVarFile(vars map[string]*planVariable, path string, parser *hclparse.Parser, readFile func(string) ([]byte, error)) hcl.Diagnostics {
	src, err := readFile(path)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read var file",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, err),
		}}
	}
	if diags := ValidateSource(src, path); diags.HasErrors() {
		return diags
	}
	f, diags := parser.ParseHCL(src, path)
	if diags.HasErrors() || f == nil {
		return diags
	}
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		diags = append(diags, validateNumberLiterals(body)...)
	}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	declared := make([]string, 0, len(vars))
	for n := range vars {
		declared = append(declared, n)
	}
	for _, n := range names {
		attr := attrs[n]
		v := vars[n]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The var file sets %q, which the plan does not declare.%s", n, suggest(n, declared)),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		val, d := e.literal(attr.Expr)
		diags = append(diags, d...)
		if d.HasErrors() {
			v.assign(cty.DynamicVal)
			continue
		}
		v.assign(convertVariable(&diags, n, v.ty, val, attr.Expr.Range().Ptr(), "value"))
	}
	return diags
}

// resolveLocals evaluates the locals blocks' values, each after the locals
// it refers to, and puts them into the evaluation context as local.NAME.
func (e *evaluator) resolveLocals(blocks []*localsBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var order []string
	for _, b := range blocks {
		names := make([]string, 0, len(b.Attrs))
		for n := range b.Attrs {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			return b.Attrs[names[i]].Range.Start.Byte < b.Attrs[names[j]].Range.Start.Byte
		})
		for _, n := range names {
			attr := b.Attrs[n]
			if prev := e.locals[n]; prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value",
					Detail:   fmt.Sprintf("The local value %q was already defined at %s.", n, prev.Range),
					Subject:  attr.NameRange.Ptr(),
				})
				continue
			}
			e.locals[n] = attr
			order = append(order, n)
		}
	}

	values := map[string]cty.Value{}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var resolve func(name string, path []string)
	resolve = func(name string, path []string) {
		switch state[name] {
		case done:
			return
		case visiting:
			attr := e.locals[name]
			e.errorf(attr.NameRange, "Cycle in local values",
				"The local value %q depends on itself: %s.", name, strings.Join(append(path, name), " -> "))
			values[name] = cty.DynamicVal
			state[name] = done
			return
		}
		state[name] = visiting
		attr := e.locals[name]
		for _, tr := range attr.Expr.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			if step, ok := tr[1].(hcl.TraverseAttr); ok && e.locals[step.Name] != nil {
				resolve(step.Name, append(path, name))
			}
		}
		if state[name] == done { // a cycle through this local was reported
			return
		}
		e.ctx.Variables["local"] = cty.ObjectVal(values)
		v, ok := e.value(attr, cty.DynamicPseudoType)
		if !ok {
			v = cty.DynamicVal
		}
		values[name] = v
		state[name] = done
	}
	for _, n := range order {
		resolve(n, nil)
	}
	e.ctx.Variables["local"] = cty.ObjectVal(values)
	return diags
}
