package config

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// FlavorIstio is upstream Istio: IstioOperator revisions and revision tags.
const FlavorIstio Flavor = "istio"

type istioLanguage struct{}

func (istioLanguage) description() string {
	return `upstream Istio, revisions like "1-27"`
}

func (istioLanguage) revisionProblem(rev string) string {
	if strings.Contains(rev, ".") {
		return `dots are legal only in the backyards "<name>.<namespace>" form; upstream Istio revisions look like "1-27" or "canary"`
	}
	if errs := validation.IsDNS1123Label(rev); len(errs) > 0 {
		return errs[0]
	}
	return ""
}

func (istioLanguage) tagsProblem() (summary, detail string) { return "", "" }

func (istioLanguage) installProblem() (summary, detail string) { return "", "" }

func (istioLanguage) manifestExample(to, file string) string {
	return fmt.Sprintf("write the target revision's objects into it, e.g. istioctl manifest generate --set revision=%s > %s", to, file)
}
