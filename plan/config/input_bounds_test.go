package config

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

const boundsHeader = "upgrade {\n  from   = \"1-26\"\n  to     = \"1-27\"\n  flavor = \"istio\"\n}\n\n"

// hostilePlans are plans that crashed the loader (Go stack overflow), ran
// out of memory or ran for minutes before it bounded nesting and evaluation.
func hostilePlans() map[string]struct {
	src     string
	summary string
	line    int
} {
	local := func(expr string) string { return boundsHeader + "locals {\n  x = " + expr + "\n}\n" }
	const n = 70000 // a 140 KB plan
	var doubling strings.Builder
	doubling.WriteString(boundsHeader + "locals {\n  a0 = \"" + strings.Repeat("x", 64) + "\"\n")
	for i := 1; i < 40; i++ {
		doubling.WriteString("  a" + itoa(i) + " = \"${local.a" + itoa(i-1) + "}${local.a" + itoa(i-1) + "}\"\n")
	}
	doubling.WriteString("}\n")
	list := "[" + strings.Repeat("1,", 999) + "1]"
	return map[string]struct {
		src     string
		summary string
		line    int
	}{
		"nested parentheses":    {local(strings.Repeat("(", n) + "1" + strings.Repeat(")", n)), "Nesting too deep", 8},
		"nested lists":          {local(strings.Repeat("[", n) + strings.Repeat("]", n)), "Nesting too deep", 8},
		"nested objects":        {local(strings.Repeat("{a = ", 30000) + "1" + strings.Repeat("}", 30000)), "Nesting too deep", 8},
		"nested interpolations": {local(strings.Repeat(`"${`, 20000) + "1" + strings.Repeat(`}"`, 20000)), "Nesting too deep", 8},
		"nested blocks":         {boundsHeader + strings.Repeat("rollback {\n", 1000) + strings.Repeat("}\n", 1000), "Nesting too deep", 71},
		"negations":             {local(strings.Repeat("!", 2*n) + "true"), "Expression too long", 8},
		"unary minus":           {local(strings.Repeat("-", 2*n) + "1"), "Expression too long", 8},
		"additions":             {local("1" + strings.Repeat("+1", n)), "Expression too long", 8},
		"conditionals":          {local(strings.Repeat("true ? 1 : ", 14000) + "1"), "Expression too long", 8},
		"range of a billion":    {local("length(range(1000000000))"), "Error in function call", 8},
		"join of huge ranges":   {local(`join(",", range(100000000))`), "Error in function call", 8},
		"join with a huge separator": {boundsHeader + "locals {\n  s = \"" + strings.Repeat("x", 100000) + "\"\n  x = join(local.s, range(1000))\n}\n",
			"Error in function call", 9},
		"formatlist of a long format": {boundsHeader + "locals {\n  x = formatlist(\"" + strings.Repeat("%d", 2000) + "\", range(1000))\n}\n",
			"Error in function call", 8},
		"a string of 50000 escapes":   {local(`"` + strings.Repeat("%%d", 50000) + `"`), "String too long", 8},
		"nested for over range(1024)": {local("[for i in range(1024): [for j in range(1024): [for k in range(1024): 1]]]"), "Plan too expensive to evaluate", 8},
		"nested for over a literal list": {boundsHeader + "locals {\n  r = " + list + "\n  x = [for i in local.r: [for j in local.r: [for k in local.r: 1]]]\n}\n",
			"Plan too expensive to evaluate", 9},
		"string doubling": {doubling.String(), "Value too large", 22},
		"nested for in a variable default": {boundsHeader + "variable \"v\" {\n  default = [for i in " + list + ": [for j in " + list + ": [for k in " + list + ": 1]]]\n}\n",
			"Plan too expensive to evaluate", 8},
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLoadBoundsHostilePlans(t *testing.T) {
	for name, tc := range hostilePlans() {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			cfg, _, diags := loadSources([]planSource{{name: "hostile.mw.hcl", src: []byte(tc.src)}}, VarInput{}, nil)
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("loaded without errors (%d bytes)", len(tc.src))
			}
			found := false
			for _, e := range diags {
				if e.Summary == tc.summary && e.Subject != nil && e.Subject.Start.Line == tc.line {
					found = true
				}
			}
			if !found {
				t.Errorf("diagnostics %v; want %q on line %d", diags, tc.summary, tc.line)
			}
			t.Logf("%d bytes, %d diagnostics, %s", len(tc.src), len(diags), time.Since(start))
		})
	}
}

// A plan within the bounds loads as before: nesting and operators up to
// the limits, and for expressions over realistic lists.
func TestLoadBoundsAllowRealPlans(t *testing.T) {
	src := boundsHeader + "locals {\n" +
		"  deep = " + strings.Repeat("[", maxNesting-3) + strings.Repeat("]", maxNesting-3) + "\n" +
		"  sum  = 1" + strings.Repeat("+1", maxOperators-1) + "\n" +
		"  ns   = [for i in range(200) : format(\"team-%03d\", i)]\n" +
		"}\n\nwave \"all\" {\n  namespaces = local.ns\n}\n"
	_, _, diags := loadSources([]planSource{{name: "ok.mw.hcl", src: []byte(src)}}, VarInput{}, nil)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
}
