package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshwave/meshwave/plan/config"
)

// This file holds the Istio rules meshwave depends on, each once: how a
// revision is named, which revision injected a pod, which revision a
// namespace's labels select, and who still uses a revision. The plan's checks
// and the live re-checks before a mutation (providers/kube) call the same
// functions, so the two cannot drift apart.

// Label and annotation keys Istio reads and writes.
const (
	LabelInjection = "istio-injection"
	LabelRevision  = "istio.io/rev"
	// LabelTag marks a revision tag's webhook (and its Service).
	LabelTag = "istio.io/tag"
	// LabelComponent marks the objects an Istio installer owns;
	// `istioctl uninstall --revision` removes only objects that carry it.
	LabelComponent = "operator.istio.io/component"
	// AnnotationSidecarStatus is written by the injector on every pod it
	// injects: JSON that names the containers it added and its revision.
	AnnotationSidecarStatus = "sidecar.istio.io/status"
	// SidecarInject is the pod label (and, older, annotation) by which a
	// pod template opts in or out of injection.
	SidecarInject = "sidecar.istio.io/inject"
	// AnnotationProxyImage pins the image of a pod's proxy, whichever
	// revision injects it.
	AnnotationProxyImage = "sidecar.istio.io/proxyImage"
	// AnnotationInjectTemplates names the injection templates (comma
	// separated) the injector renders the pod with.
	AnnotationInjectTemplates = "inject.istio.io/templates"
)

// SelectsNothing stands for a webhook selector meshwave could not read.
const SelectsNothing = "!selects-nothing"

// Injecting lists the injection webhooks that would inject a plain pod (no
// labels of its own) created in a namespace with these labels, as
// "CONFIGURATION/WEBHOOK". Istio expects at most one (istioctl analyze
// IST0139): with two, which revision injects a pod is undefined.
func Injecting(webhooks []Webhook, nsLabels map[string]string) []string {
	var out []string
	for _, w := range webhooks {
		for _, in := range w.Injectors {
			if selects(in.NamespaceSelector, nsLabels) && selects(in.ObjectSelector, nil) {
				out = append(out, w.Name+"/"+in.Name)
			}
		}
	}
	return out
}

func selects(selector string, set map[string]string) bool {
	if selector == SelectsNothing {
		return false
	}
	sel, err := labels.Parse(selector)
	return err == nil && sel.Matches(labels.Set(set))
}

// UninstallComponents are the values of LabelComponent whose objects an
// uninstall of one revision removes, as `istioctl uninstall --revision` does:
// the base component (CRDs, the shared service account) stays.
var UninstallComponents = []string{"Pilot", "IngressGateways", "EgressGateways", "Cni", "Ztunnel"}

// UninstallSelector is the label selector of the objects that make up one
// installed revision, the same one `istioctl uninstall --revision` prunes by.
func UninstallSelector(revision string) string {
	return fmt.Sprintf("%s=%s,%s in (%s)", LabelRevision, revision, LabelComponent, strings.Join(UninstallComponents, ","))
}

// IstiodName is the name of a revision's istiod Deployment and Service.
func IstiodName(revision string) string {
	if revision == "" || revision == config.DefaultRevision {
		return "istiod"
	}
	return "istiod-" + revision
}

// TagWebhookName is the name of the MutatingWebhookConfiguration that
// implements a revision tag, as `istioctl tag set` writes it in istio-system.
func TagWebhookName(tag string) string { return "istio-revision-tag-" + tag }

// InjectorWebhookName is the name of a revision's own injection webhook.
func InjectorWebhookName(revision string) string {
	if revision == "" || revision == config.DefaultRevision {
		return "istio-sidecar-injector"
	}
	return "istio-sidecar-injector-" + revision
}

// PodRevision is the revision that injected a pod. Upstream istiod records it
// in the sidecar.istio.io/status annotation (and the istio.io/rev
// annotation) and leaves the pod's labels alone; Backyards' injector labeled
// the pod istio.io/rev. Empty when nothing names a revision.
func PodRevision(labels, annotations map[string]string) string {
	if s := annotations[AnnotationSidecarStatus]; s != "" {
		var status struct {
			Revision string `json:"revision"`
		}
		if json.Unmarshal([]byte(s), &status) == nil && status.Revision != "" {
			return status.Revision
		}
	}
	if r := annotations[LabelRevision]; r != "" {
		return r
	}
	return labels[LabelRevision]
}

// InjectionOptedOut reports whether a pod template with these labels and
// annotations opts out of sidecar injection, as Istio's injector reads it:
// the sidecar.istio.io/inject label, else the annotation of that name; a
// value other than y, yes, true or on (in any case) opts out, and an empty
// or missing one leaves it to the namespace. An opted-out workload is
// neither restarted nor verified: its next pods get no proxy whichever
// revision the namespace selects.
func InjectionOptedOut(labels, annotations map[string]string) bool {
	v, ok := labels[SidecarInject]
	if !ok {
		v = annotations[SidecarInject]
	}
	switch strings.ToLower(v) {
	case "", "y", "yes", "true", "on":
		return false
	}
	return true
}

// ProxyPin says why a restart does not move a workload's proxy to
// control plane cp: its pod template pins another proxy image, or names an
// injection template cp's injector does not have (then the injection fails
// and no new pod is created). Empty when a restart moves it; missing says
// which templates cp lacks, nil for an image pin.
func ProxyPin(w Workload, cp ControlPlane) (reason string, missing []string) {
	if cp.InjectTemplates != nil {
		for _, t := range w.InjectTemplates {
			if !slices.Contains(cp.InjectTemplates, t) {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("pod template asks for injection template %s (%s), which revision %s does not have",
				strings.Join(missing, ", "), AnnotationInjectTemplates, cp.Revision), missing
		}
	}
	if w.ProxyImagePin != "" && w.ProxyImagePin != cp.ProxyImage {
		return fmt.Sprintf("pod template pins proxy image %s (%s): a restart keeps it", w.ProxyImagePin, AnnotationProxyImage), nil
	}
	return "", nil
}

// PodFinished reports whether a pod in this phase has stopped for good
// (Succeeded or Failed: a Job's completed pod, an evicted pod). Its proxy
// never runs again, so it uses no revision, is not restarted and is not
// verified (sail-operator#839): the snapshot leaves such pods out.
func PodFinished(phase string) bool { return phase == "Succeeded" || phase == "Failed" }

// Injectors says which revision each revision tag and the default injector
// (istio-injection=enabled) point at: the routing table a namespace's labels
// are resolved through.
type Injectors struct {
	// Tags maps a tag name to the revision its webhook points at.
	Tags map[string]string
	// Default is the revision that injects istio-injection=enabled
	// namespaces; empty when none does.
	Default string
}

// InjectorsOf reads the routing table from the control planes of a snapshot.
// A "default" revision tag decides the default injector (istioctl turns the
// others off when it sets one); without one, the control plane whose webhook
// selects istio-injection=enabled does.
func InjectorsOf(cps []ControlPlane) Injectors {
	in := Injectors{Tags: map[string]string{}}
	for _, cp := range cps {
		for _, t := range cp.Tags {
			in.Tags[t] = cp.Revision
		}
		if cp.Default && in.Default == "" {
			in.Default = cp.Revision
		}
	}
	if rev, ok := in.Tags[config.DefaultRevision]; ok {
		in.Default = rev
	}
	return in
}

// Moved returns the routing table after tags are moved to revision: moving
// the "default" tag also moves the default injector.
func (in Injectors) Moved(tags []config.TagConfig, revision string) Injectors {
	out := Injectors{Tags: map[string]string{}, Default: in.Default}
	for t, r := range in.Tags {
		out.Tags[t] = r
	}
	for _, t := range tags {
		out.Tags[t.Name] = revision
		if t.Name == config.DefaultRevision {
			out.Default = revision
		}
	}
	return out
}

// Resolve returns the revision a revision label value selects: the value
// itself, or the revision a tag of that name points at.
func (in Injectors) Resolve(label string) string {
	if rev, ok := in.Tags[label]; ok {
		return rev
	}
	if label == config.DefaultRevision && in.Default != "" {
		return in.Default
	}
	return label
}

// InjectionLabels are the labels of a namespace that decide which revision
// injects it (istio-injection and istio.io/rev), and only those; empty, not
// nil, when it has none.
func InjectionLabels(labels map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{LabelInjection, LabelRevision} {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// NamespaceRevision is the revision that injects new pods of a namespace with
// these labels, as Istio decides it: istio-injection wins over istio.io/rev
// (enabled means the default injector, any other value none), then
// istio.io/rev through the tags. Empty when nothing injects the namespace.
func (in Injectors) NamespaceRevision(labels map[string]string) string {
	if v, ok := labels[LabelInjection]; ok {
		if v == "enabled" {
			return in.Default
		}
		return ""
	}
	if r := labels[LabelRevision]; r != "" {
		return in.Resolve(r)
	}
	return ""
}

// Move is what a plan changes that decides who uses a revision afterwards.
// The live re-check before an uninstall passes the zero Move: by then the
// cluster itself shows the result.
type Move struct {
	// Namespaces the plan's waves move (with their pods).
	Namespaces map[string]bool
	// Gateways the plan moves, as "namespace/name".
	Gateways map[string]bool
	// Tags the plan moves off the revision.
	Tags map[string]bool
}

// RevisionUsers lists what would still use control plane cp once move is
// done: namespaces whose labels select it, pods it injected (its own istiod
// aside), gateways on it and revision tags pointing at it. This is the rule
// behind MW015 and behind the re-check an uninstall makes just before it
// deletes anything.
func RevisionUsers(snap *Snapshot, cp ControlPlane, move Move) []string {
	in := InjectorsOf(snap.ControlPlanes)
	var users []string
	for _, ns := range snap.Namespaces {
		if move.Namespaces[ns.Name] {
			continue
		}
		if in.NamespaceRevision(ns.Labels) == cp.Revision {
			users = append(users, "namespace "+ns.Name)
		}
	}
	gatewayPods := map[string]bool{}
	for _, g := range snap.Gateways {
		key := g.Namespace + "/" + g.Name
		for _, p := range g.Pods {
			gatewayPods[g.Namespace+"/"+p.Name] = true
		}
		if g.ControlPlane == cp.Revision && !move.Gateways[key] {
			users = append(users, "gateway "+key)
		}
	}
	istiod := map[string]bool{}
	for _, p := range cp.Istiod {
		istiod[p.Name] = true
	}
	for _, wl := range snap.Workloads {
		if move.Namespaces[wl.Namespace] {
			continue
		}
		for _, p := range wl.Pods {
			key := wl.Namespace + "/" + p.Name
			if gatewayPods[key] || (wl.Namespace == cp.Namespace && istiod[p.Name]) {
				continue
			}
			if PodUses(p, cp) {
				users = append(users, "pod "+key)
			}
		}
	}
	for _, t := range cp.Tags {
		if t == config.DefaultRevision && cp.Default && !move.Tags[t] {
			users = append(users, "revision tag default (the injector of istio-injection=enabled namespaces)")
			continue
		}
		if !move.Tags[t] {
			users = append(users, "revision tag "+t)
		}
	}
	sort.Strings(users)
	return slices.Compact(users)
}

// PodUses reports whether a pod's proxy belongs to control plane cp: the
// injector recorded cp's revision, or, for a pod whose injector recorded
// none, it runs cp's proxy image.
func PodUses(p Pod, cp ControlPlane) bool {
	if p.ProxyImage == "" {
		return false
	}
	if p.Revision != "" {
		return p.Revision == cp.Revision || slices.Contains(cp.Tags, p.Revision)
	}
	return cp.ProxyImage != "" && p.ProxyImage == cp.ProxyImage
}
