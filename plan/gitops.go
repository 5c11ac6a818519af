package plan

import (
	"slices"
	"strings"
)

// This file holds the rule by which meshwave tells that a GitOps controller
// (Argo CD, Flux) manages an object: such a controller sets the object back
// to what git says (self-heal, the next reconcile), so a label meshwave
// changes on it does not stay (istio/istio#28967).

// The labels and annotations GitOps controllers mark their objects with.
const (
	// AnnotationArgoTrackingID is Argo CD's annotation tracking method:
	// "APP:GROUP/KIND:NAMESPACE/NAME".
	AnnotationArgoTrackingID = "argocd.argoproj.io/tracking-id"
	// LabelArgoInstance is Argo CD's label for the label tracking method
	// when configured with its own key.
	LabelArgoInstance = "argocd.argoproj.io/instance"
	// LabelAppInstance is Argo CD's default tracking label, but Helm and
	// many charts set it too: it names the Application only where other
	// evidence says Argo CD manages the object.
	LabelAppInstance = "app.kubernetes.io/instance"

	LabelFluxKustomizationName      = "kustomize.toolkit.fluxcd.io/name"
	LabelFluxKustomizationNamespace = "kustomize.toolkit.fluxcd.io/namespace"
	LabelFluxHelmReleaseName        = "helm.toolkit.fluxcd.io/name"
	LabelFluxHelmReleaseNamespace   = "helm.toolkit.fluxcd.io/namespace"
)

// GitOpsMarkKeys are the label and annotation keys GitOpsOf reads: the
// provider keeps only these of an object's labels and annotations in
// Management.Marks.
var GitOpsMarkKeys = []string{
	AnnotationArgoTrackingID, LabelArgoInstance, LabelAppInstance,
	LabelFluxKustomizationName, LabelFluxKustomizationNamespace,
	LabelFluxHelmReleaseName, LabelFluxHelmReleaseNamespace,
}

// The field managers (metadata.managedFields[].manager) of the GitOps
// controllers' writes.
var (
	argoManagers = []string{"argocd-controller", "argocd-application-controller"}
	fluxManagers = []string{"kustomize-controller", "helm-controller"}
)

// Management are the facts that say whether another controller manages an
// object: its GitOps marks (labels and annotations, only the keys of
// GitOpsMarkKeys) and the field managers that wrote it.
type Management struct {
	Marks    map[string]string
	Managers []string
}

// GitOpsOwner is the GitOps controller that manages an object, and what of
// it holds the object (its Argo CD Application, Flux Kustomization or
// HelmRelease) when the object's marks say it.
type GitOpsOwner struct {
	// Controller is "Argo CD" or "Flux".
	Controller string
	// Source is "Application shop", "Kustomization flux-system/apps",
	// "HelmRelease istio-system/istio-ingress"; empty when unknown.
	Source string
}

// String is "Argo CD (Application shop)", or the controller alone.
func (o GitOpsOwner) String() string {
	if o.Source == "" {
		return o.Controller
	}
	return o.Controller + " (" + o.Source + ")"
}

// GitOpsOf says which GitOps controller manages an object with these
// facts; ok is false when none does. Argo CD: its tracking annotation, its
// instance label, or one of its field managers (then app.kubernetes.io/
// instance names the Application). Flux: the kustomize-controller or
// helm-controller labels, or one of their field managers.
func GitOpsOf(m Management) (owner GitOpsOwner, ok bool) {
	marks := m.Marks
	argoManaged := slices.ContainsFunc(m.Managers, func(s string) bool { return slices.Contains(argoManagers, s) })
	switch {
	case marks[AnnotationArgoTrackingID] != "":
		app, _, _ := strings.Cut(marks[AnnotationArgoTrackingID], ":")
		return GitOpsOwner{Controller: "Argo CD", Source: "Application " + app}, true
	case marks[LabelArgoInstance] != "":
		return GitOpsOwner{Controller: "Argo CD", Source: "Application " + marks[LabelArgoInstance]}, true
	case argoManaged && marks[LabelAppInstance] != "":
		return GitOpsOwner{Controller: "Argo CD", Source: "Application " + marks[LabelAppInstance]}, true
	case argoManaged:
		return GitOpsOwner{Controller: "Argo CD"}, true
	case marks[LabelFluxKustomizationName] != "":
		return GitOpsOwner{Controller: "Flux", Source: "Kustomization " + qualified(marks[LabelFluxKustomizationNamespace], marks[LabelFluxKustomizationName])}, true
	case marks[LabelFluxHelmReleaseName] != "":
		return GitOpsOwner{Controller: "Flux", Source: "HelmRelease " + qualified(marks[LabelFluxHelmReleaseNamespace], marks[LabelFluxHelmReleaseName])}, true
	case slices.ContainsFunc(m.Managers, func(s string) bool { return slices.Contains(fluxManagers, s) }):
		return GitOpsOwner{Controller: "Flux"}, true
	}
	return GitOpsOwner{}, false
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
