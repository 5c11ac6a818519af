package config

import (
	"math/big"
	"net/url"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The checks below each look at one value and report at its range; they
// return whether the value passed, so callers can skip checks that build on
// it.

func (e *evaluator) validateFlavor(f Flavor, rng hcl.Range) bool {
	if f.Valid() {
		return true
	}
	var names []string
	for _, name := range Flavors() {
		names = append(names, string(name))
	}
	e.errorf(rng, "Invalid flavor", "The flavor must be %s; got %q.%s", flavorChoices(), f, suggest(string(f), names))
	return false
}

// validateRevision checks a revision id as the flavor's control plane labels
// namespaces and pods with it (istio.io/rev). "default" stands for the
// revision behind istio-injection=enabled in both flavors.
func (e *evaluator) validateRevision(f Flavor, rev, attr string, rng hcl.Range) bool {
	if rev == DefaultRevision {
		return true
	}
	problem := revisionProblem(f, rev)
	if problem == "" {
		return true
	}
	e.errorf(rng, "Invalid revision", "The %s revision %q is not valid for flavor %q: %s.", attr, rev, f, problem)
	return false
}

// revisionProblem says why rev is not a revision of flavor f, by the
// flavor's own spelling; "" when it is one.
func revisionProblem(f Flavor, rev string) string {
	if rev == "" {
		return "it is empty"
	}
	if lang, ok := flavors[f]; ok {
		return lang.revisionProblem(rev)
	}
	return ""
}

// validateTag checks a tag block: only some flavors have revision tags, and a tag
// name is an istio.io/rev label value that names a webhook.
func (e *evaluator) validateTag(up Upgrade, name string, rng hcl.Range) bool {
	if lang, ok := flavors[up.Flavor]; ok {
		if summary, detail := lang.tagsProblem(); summary != "" {
			e.errorf(rng, summary, "%s", detail)
			return false
		}
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		e.errorf(rng, "Invalid tag name", "%q is not a valid revision tag name: %s.", name, errs[0])
		return false
	}
	if name != DefaultRevision && (name == up.From || name == up.To) {
		e.errorf(rng, "Tag names a revision of the upgrade",
			"The tag %q is also the upgrade's from or to; the tag block moves a tag to the target revision, so name the tag here and the revisions in the upgrade block.", name)
		return false
	}
	return true
}

// validateObjectName checks a Kubernetes object name (DNS-1123 subdomain).
func (e *evaluator) validateObjectName(name, what string, rng hcl.Range) bool {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		e.errorf(rng, "Invalid "+what, "%q is not a valid Kubernetes object name: %s.", name, errs[0])
		return false
	}
	return true
}

func (e *evaluator) validateNamespace(name string, rng hcl.Range) bool {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		e.errorf(rng, "Invalid namespace name", "%q is not a valid namespace name: %s.", name, errs[0])
		return false
	}
	return true
}

// validateWaveName keeps wave names usable inside step ids
// (wave/NAME/restart/...) and label values.
func (e *evaluator) validateWaveName(name string, rng hcl.Range) bool {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		e.errorf(rng, "Invalid wave name", "%q is not a valid wave name: %s.", name, errs[0])
		return false
	}
	return true
}

func (e *evaluator) validateSelector(sel string, rng hcl.Range) bool {
	if strings.TrimSpace(sel) == "" {
		e.errorf(rng, "Empty label selector",
			"An empty selector would match every namespace, kube-system included. Write the labels to match, e.g. \"istio-injection=enabled\", or use namespaces = [...].")
		return false
	}
	if _, err := labels.Parse(sel); err != nil {
		e.errorf(rng, "Invalid label selector", "%q is not a Kubernetes label selector: %s.", sel, err)
		return false
	}
	return true
}

func (e *evaluator) validateURL(s string, rng hcl.Range) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.errorf(rng, "Invalid URL", "%q is not an absolute http or https URL, e.g. \"http://app-a.demo-a.svc:8080/healthz\".", s)
		return false
	}
	return true
}

// Numbers in a plan are counts, seconds and metric thresholds. cty numbers
// are arbitrary-precision, and turning one with an astronomic exponent into
// text (a string attribute, an interpolation) takes time and memory in
// proportion to the exponent, so numbers beyond float64's range are refused
// before anything is evaluated.
const maxNumberExp = 1024 // binary exponent: |x| < 2^1024, like float64

// numberInRange reports whether n is zero or within float64's magnitude.
func numberInRange(n *big.Float) bool {
	if n.Sign() == 0 {
		return true
	}
	exp := n.MantExp(nil)
	return exp <= maxNumberExp && exp >= -maxNumberExp-52
}

// validateNumberLiterals reports number literals outside the range above.
func validateNumberLiterals(node hclsyntax.Node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if !ok || lit.Val.Type() != cty.Number || lit.Val.IsNull() || numberInRange(lit.Val.AsBigFloat()) {
			return nil
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Number out of range",
			Detail:   "Numbers in a plan must be within about ±1.8e308, and not smaller than about 1e-308 unless zero.",
			Subject:  lit.SrcRange.Ptr(),
		})
		return nil
	})
	return diags
}

// valueNumbersInRange reports whether every number inside v is in range.
func valueNumbersInRange(v cty.Value) bool {
	ok := true
	_ = cty.Walk(v, func(_ cty.Path, el cty.Value) (bool, error) {
		if el.Type() == cty.Number && el.IsKnown() && !el.IsNull() && !numberInRange(el.AsBigFloat()) {
			ok = false
		}
		return ok, nil
	})
	return ok
}
