package config

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// FlavorBackyards is Banzai Cloud's istio-operator: Istio and MeshGateway
// custom resources, revisions named "<name>.<namespace>".
const FlavorBackyards Flavor = "backyards"

type backyardsLanguage struct{}

func (backyardsLanguage) description() string {
	return `Banzai Cloud istio-operator, revisions like "cp-v17x.istio-system"`
}

func (backyardsLanguage) revisionProblem(rev string) string {
	name, ns, ok := ParseBackyardsRevision(rev)
	if !ok {
		return `a backyards revision is "<name>.<namespace>" of its Istio resource, with exactly one dot, e.g. "cp-v17x.istio-system"`
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Sprintf("the name part %q: %s", name, errs[0])
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Sprintf("the namespace part %q: %s", ns, errs[0])
	}
	if errs := validation.IsValidLabelValue(rev); len(errs) > 0 {
		return "it is used as the istio.io/rev label value: " + errs[0]
	}
	return ""
}

func (backyardsLanguage) tagsProblem() (summary, detail string) {
	return "Revision tags need flavor istio", fmt.Sprintf(
		"Revision tags are upstream Istio's (istioctl tag set); the backyards flavor has none. Remove the tag block, or set flavor = %q.", FlavorIstio)
}

// installProblem is none: the install block applies the new control
// plane's Istio resource (the file backyards install -a --istio-cr-file
// takes), which the operator reconciles into istiod and its injector.
func (backyardsLanguage) installProblem() (summary, detail string) { return "", "" }

func (backyardsLanguage) manifestExample(to, file string) string {
	name, ns, _ := ParseBackyardsRevision(to)
	return fmt.Sprintf("write the new control plane's Istio resource into it (apiVersion istio.banzaicloud.io/v1beta1, name %s, namespace %s), the file backyards install -a --istio-cr-file %s takes", name, ns, file)
}

// BackyardsRevision is a Backyards control plane's revision id: the name and
// namespace of its Istio resource, "cp-v17x.istio-system".
func BackyardsRevision(name, namespace string) string { return name + "." + namespace }

// ParseBackyardsRevision splits a Backyards revision id into the name and
// namespace of its Istio resource; ok is false when rev is not of the form
// "<name>.<namespace>" with both parts set and a single dot.
func ParseBackyardsRevision(rev string) (name, namespace string, ok bool) {
	name, namespace, found := strings.Cut(rev, ".")
	if !found || name == "" || namespace == "" || strings.Contains(namespace, ".") {
		return "", "", false
	}
	return name, namespace, true
}
