package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The tests in this file keep docs/plan-language.md in step with the loader.

func readLanguageDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/plan-language.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsNameEverySetting checks that every block and attribute the schema
// accepts is documented.
func TestDocsNameEverySetting(t *testing.T) {
	doc := readLanguageDoc(t)
	schemas := []any{
		rootSchema{}, variableBlock{}, upgradeBlock{}, tagBlock{}, gatewayBlock{}, waveBlock{},
		httpBlock{}, prometheusBlock{}, commandBlock{}, rollbackBlock{}, finalizeBlock{}, installBlock{}, stateBlock{},
	}
	for _, s := range schemas {
		schema, _ := gohcl.ImpliedBodySchema(s)
		var names []string
		for _, a := range schema.Attributes {
			names = append(names, a.Name)
		}
		for _, b := range schema.Blocks {
			names = append(names, b.Type)
		}
		for _, n := range names {
			if !strings.Contains(doc, "`"+n+"`") {
				t.Errorf("%s: %q is not documented", reflect.TypeOf(s).Name(), n)
			}
		}
	}
	invalid, _ := filepath.Glob("testdata/invalid/*.mw.hcl")
	for _, p := range invalid {
		if !strings.Contains(doc, "(../plan/config/"+p+")") {
			t.Errorf("golden case %s is not listed", p)
		}
	}
	for _, d := range []string{"backyards-1.6-to-1.7", "backyards-install", "istio-revisions", "istio-tags", "variables"} {
		if !strings.Contains(doc, "(../examples/"+d+")") {
			t.Errorf("example %s is not linked", d)
		}
	}
}

// TestDocsFunctions evaluates every row of the functions table and checks
// that the table lists exactly the functions a plan may call.
func TestDocsFunctions(t *testing.T) {
	doc := readLanguageDoc(t)
	row := regexp.MustCompile("(?m)^\\| `([a-z]+)` \\| `([^`]+)` \\| `([^`]+)`")
	ctx := &hcl.EvalContext{Functions: planFunctions()}
	var documented []string
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		name, call, result := m[1], m[2], m[3]
		documented = append(documented, name)
		got := evalDocExpr(t, call, ctx)
		want := evalDocExpr(t, result, ctx)
		if conv, err := convert.Convert(want, got.Type()); err == nil {
			want = conv // ["a"] in the docs is a tuple; a function returns a list
		}
		if !got.RawEquals(want) {
			t.Errorf("%s = %#v, docs say %s", call, got, result)
		}
	}
	if diff := strings.Join(documented, " "); len(documented) != len(FunctionNames()) {
		t.Errorf("documented functions %s; the plan has %s", diff, strings.Join(FunctionNames(), " "))
	}
	for _, n := range FunctionNames() {
		if !strings.Contains(doc, "| `"+n+"` |") {
			t.Errorf("function %s is not documented", n)
		}
	}
}

func evalDocExpr(t *testing.T, src string, ctx *hcl.EvalContext) cty.Value {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "doc", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", src, diags.Error())
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", src, diags.Error())
	}
	return v
}

// TestDocsPlansValidate loads every HCL example in the docs that is a whole
// plan (has an upgrade block): it must load without errors, or, when marked
// with an "<!-- invalid" comment, with errors.
func TestDocsPlansValidate(t *testing.T) {
	doc := readLanguageDoc(t)
	block := regexp.MustCompile("(?s)(<!-- invalid[^\n]*\n)?```hcl\n(.*?)```")
	n := 0
	for _, m := range block.FindAllStringSubmatch(doc, -1) {
		invalid, src := m[1] != "", m[2]
		if !strings.Contains(src, "upgrade {") {
			continue
		}
		n++
		_, diags := loadString(t, src, VarInput{})
		switch {
		case invalid && !diags.HasErrors():
			t.Errorf("docs plan marked invalid loads without errors:\n%s", src)
		case !invalid && diags.HasErrors():
			t.Errorf("docs plan does not load:\n%s\n%s", src, diags.Error())
		}
	}
	if n < 2 {
		t.Errorf("found %d whole plans in the docs, want at least 2", n)
	}
}
