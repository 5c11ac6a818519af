package config

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
func (e *evaluator) declareVariables(blocks []*variableBlock, in VarInput, parser *hclparse.Parser, readFile fileReader) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vars := map[string]*planVariable{}
	var order []string
	for _, b := range blocks {
		if d := e.variableNameDiags(b, vars); d != nil {
			diags = append(diags, d)
			continue
		}
		v, d := e.declareVariable(b)
		diags = append(diags, d...)
		vars[b.Name] = v
		order = append(order, b.Name)
	}
	diags = append(diags, e.setFromEnviron(vars, in.Environ)...)
	for _, path := range in.VarFiles {
		diags = append(diags, e.setFromVarFile(vars, path, parser, readFile)...)
	}
	diags = append(diags, e.setFromVarOptions(vars, order, in.Vars)...)

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

// variableNameDiags says why a variable block cannot be declared: an invalid
// or a duplicate name; nil when it can.
func (e *evaluator) variableNameDiags(b *variableBlock, vars map[string]*planVariable) *hcl.Diagnostic {
	if !hclsyntax.ValidIdentifier(b.Name) {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   fmt.Sprintf("%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", b.Name),
			Subject:  b.LabelRange.Ptr(),
		}
	}
	if prev, dup := vars[b.Name]; dup {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable declaration",
			Detail:   fmt.Sprintf("The variable %q was already declared at %s.", b.Name, prev.block.DefRange),
			Subject:  b.LabelRange.Ptr(),
		}
	}
	return nil
}

// declareVariable decodes one variable block: its type, its description and
// its default. Defaults and descriptions are literals: they are read before
// any variable has a value.
func (e *evaluator) declareVariable(b *variableBlock) (*planVariable, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	v := &planVariable{block: b, ty: cty.DynamicPseudoType}
	e.declared[b.Name] = true
	if b.Type != nil {
		ty, d := typeexpr.TypeConstraint(b.Type.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.ty = ty
		}
	}
	if b.Description != nil {
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
	return v, diags
}

// setFromEnviron sets variables from MESHWAVE_VAR_NAME=value entries. The
// environment is shared by every plan a user runs, so values for variables
// this plan does not declare are ignored, not errors.
func (e *evaluator) setFromEnviron(vars map[string]*planVariable, environ []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, kv := range environ {
		name, val, found := strings.Cut(kv, "=")
		if !found || !strings.HasPrefix(name, VarEnvPrefix) {
			continue
		}
		name = strings.TrimPrefix(name, VarEnvPrefix)
		if v := vars[name]; v != nil {
			v.assign(e.rawVariableValue(&diags, v, val, VarEnvPrefix+name))
		}
	}
	return diags
}

// setFromVarOptions sets variables from -var NAME=VALUE options; naming a
// variable the plan does not declare is an error.
func (e *evaluator) setFromVarOptions(vars map[string]*planVariable, order, opts []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, opt := range opts {
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
	return diags
}

// rawVariableValue reads a value given on the command line or in the
// environment: taken as is for string (and untyped) variables, parsed as an
// HCL literal (["a", "b"], 3, true) for any other type.
func (e *evaluator) rawVariableValue(diags *hcl.Diagnostics, v *planVariable, raw, origin string) cty.Value {
	if v.ty == cty.String || v.ty == cty.DynamicPseudoType {
		return cty.StringVal(raw)
	}
	name := fmt.Sprintf("<value for %s>", origin)
	if d := expressionInputBounds([]byte(raw), name); d.HasErrors() {
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
func (e *evaluator) setFromVarFile(vars map[string]*planVariable, path string, parser *hclparse.Parser, readFile fileReader) hcl.Diagnostics {
	src, err := readFile(path, MaxFileSize)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read var file",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, err),
		}}
	}
	if diags := InputBounds(src, path); diags.HasErrors() {
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
	order, diags := e.collectLocals(blocks)
	r := &localResolver{e: e, values: map[string]cty.Value{}, state: map[string]int{}}
	for _, n := range order {
		r.resolve(n, nil)
	}
	e.ctx.Variables["local"] = cty.ObjectVal(r.values)
	return diags
}

// collectLocals indexes the locals of every block, in source order within a
// block, and reports a name defined twice.
func (e *evaluator) collectLocals(blocks []*localsBlock) ([]string, hcl.Diagnostics) {
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
	return order, diags
}

// localResolver evaluates locals depth first, each after the locals it
// refers to, and reports a cycle once.
type localResolver struct {
	e      *evaluator
	values map[string]cty.Value
	state  map[string]int // localVisiting or localDone
}

const (
	localVisiting = 1
	localDone     = 2
)

func (r *localResolver) resolve(name string, path []string) {
	e := r.e
	switch r.state[name] {
	case localDone:
		return
	case localVisiting:
		attr := e.locals[name]
		e.errorf(attr.NameRange, "Cycle in local values",
			"The local value %q depends on itself: %s.", name, strings.Join(append(path, name), " -> "))
		r.values[name] = cty.DynamicVal
		r.state[name] = localDone
		return
	}
	r.state[name] = localVisiting
	attr := e.locals[name]
	for _, tr := range attr.Expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if step, ok := tr[1].(hcl.TraverseAttr); ok && e.locals[step.Name] != nil {
			r.resolve(step.Name, append(path, name))
		}
	}
	if r.state[name] == localDone { // a cycle through this local was reported
		return
	}
	e.ctx.Variables["local"] = cty.ObjectVal(r.values)
	v, ok := e.value(attr, cty.DynamicPseudoType)
	if !ok {
		v = cty.DynamicVal
	}
	r.values[name] = v
	r.state[name] = localDone
}
