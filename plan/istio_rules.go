package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

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
	// AnnotationProxyImage pins the image of a pod's proxy, whichever
	// revision injects it.
	AnnotationProxyImage = "sidecar.istio.io/proxyImage"
	// AnnotationInjectTemplates names the injection templates (comma
	// separated) the injector renders the pod with.
	AnnotationInjectTemplates = "inject.istio.io/templates"
)

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

// MeshConfigName is the name of the ConfigMap that holds a revision's mesh
// config (key mesh), in its istiod's namespace.
func MeshConfigName(revision string) string {
	if revision == "" || revision == config.DefaultRevision {
		return "istio"
	}
	return "istio-" + revision
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

// InjectTemplateGateway is the injection template of a gateway deployed as
// Istio's docs and its gateway chart deploy one: a Deployment of the proxy
// image "auto", injected with this template by its revision's injector.
const InjectTemplateGateway = "gateway"

// GatewayComponents are the values of LabelComponent of the gateways
// istioctl installs with a revision.
var GatewayComponents = []string{"IngressGateways", "EgressGateways"}

// IsGateway reports whether a pod template with these labels and
// annotations is an upstream Istio gateway's: injected with the gateway
// template (AnnotationInjectTemplates), or installed by istioctl as a gateway
// component (LabelComponent). Its revision is its istio.io/rev label; a
// gateway block moves it.
func IsGateway(labels, annotations map[string]string) bool {
	if slices.Contains(GatewayComponents, labels[LabelComponent]) {
		return true
	}
	for _, t := range strings.Split(annotations[AnnotationInjectTemplates], ",") {
		if strings.TrimSpace(t) == InjectTemplateGateway {
			return true
		}
	}
	return false
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
// done: namespaces where a new pod would be injected by it, workloads whose
// own pod-template label pins their next pods to it (Pinned), pods it
// injected (its own istiod aside), gateways on it and revision tags pointing
// at it. This is the rule behind MW015 and MW041 and behind the re-check an
// uninstall makes just before it deletes anything; RevisionUsersOf gives the
// same users by kind.
func RevisionUsers(snap *Snapshot, cp ControlPlane, move Move) []string {
	u := RevisionUsersOf(snap, cp, move)
	users := u.Described()
	for _, p := range u.Pinned {
		users = append(users, p.String())
	}
	sort.Strings(users)
	return slices.Compact(users)
}

// Users are what uses a control plane, by kind (RevisionUsersOf): each list
// sorted, none repeated.
type Users struct {
	// Namespaces whose labels have a new pod injected by it.
	Namespaces []string
	// Gateways on it, as "namespace/name".
	Gateways []string
	// Pods it injected, in namespaces whose labels do not select it (and
	// outside Pinned workloads).
	Pods []ObjectRef
	// Pinned are the workloads pinned to it by their pod template's label.
	Pinned []Pinned
	// Tags are the revision tags pointing at it; DefaultInjector is true
	// when its default tag also makes it the injector of
	// istio-injection=enabled namespaces.
	Tags            []string
	DefaultInjector bool
}

// Described lists the users other than Pinned as the plan words them
// ("namespace shop", "gateway istio-system/istio-ingressgateway", "pod
// shop/web-1", "revision tag prod"), sorted.
func (u Users) Described() []string {
	var out []string
	for _, n := range u.Namespaces {
		out = append(out, "namespace "+n)
	}
	for _, g := range u.Gateways {
		out = append(out, "gateway "+g)
	}
	for _, p := range u.Pods {
		out = append(out, "pod "+p.Namespace+"/"+p.Name)
	}
	for _, t := range u.Tags {
		if t == config.DefaultRevision && u.DefaultInjector {
			out = append(out, "revision tag default (the injector of istio-injection=enabled namespaces)")
			continue
		}
		out = append(out, "revision tag "+t)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Pinned is a workload whose next pod an injector selects by the pod
// template's own label (through its object selector), not by the
// namespace's labels.
type Pinned struct {
	Workload ObjectRef
	// Label is the template's label that selects the injector, "KEY=VALUE".
	Label string
}

func (p Pinned) String() string {
	return fmt.Sprintf("%s %s/%s (pod template label %s)", p.Workload.Kind, p.Workload.Namespace, p.Workload.Name, p.Label)
}

// RevisionUsersOf is RevisionUsers by kind: MW041 names the pinned
// workloads one by one, with what to change, and meshwave generate places
// each kind of user in its own block.
func RevisionUsersOf(snap *Snapshot, cp ControlPlane, move Move) Users {
	var u Users
	route := InjectorsOf(snap.ControlPlanes)
	for t := range move.Tags {
		// A tag the plan moves injects the target by then, not cp.
		route.Tags[t] = ""
	}
	injectors := compileInjectors(snap.Webhooks)
	plain := map[string]bool{}
	for _, ns := range snap.Namespaces {
		if move.Namespaces[ns.Name] {
			continue
		}
		if injectsRevision(injectors.podInjections(route, ns.Name, ns.Labels, nil, nil), cp.Revision) {
			plain[ns.Name] = true
			u.Namespaces = append(u.Namespaces, ns.Name)
		}
	}
	nsLabels := map[string]map[string]string{}
	for _, ns := range snap.Namespaces {
		nsLabels[ns.Name] = ns.Labels
	}
	gatewayPods := map[string]bool{}
	for _, g := range snap.Gateways {
		key := g.Namespace + "/" + g.Name
		for _, p := range g.Pods {
			gatewayPods[g.Namespace+"/"+p.Name] = true
		}
		if g.ControlPlane == cp.Revision && !move.Gateways[key] {
			u.Gateways = append(u.Gateways, key)
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
		own := false
		for _, p := range wl.Pods {
			key := wl.Namespace + "/" + p.Name
			own = own || gatewayPods[key] || (wl.Namespace == cp.Namespace && istiod[p.Name])
		}
		if own {
			continue
		}
		if !plain[wl.Namespace] && injectsRevision(injectors.podInjections(route, wl.Namespace, nsLabels[wl.Namespace], wl.TemplateLabels, wl.TemplateAnnotations), cp.Revision) {
			// Its pods are named by the workload, with what pins them.
			u.Pinned = append(u.Pinned, Pinned{Workload: ObjectRef{Kind: string(wl.Kind), Namespace: wl.Namespace, Name: wl.Name}, Label: PinLabel(wl.TemplateLabels)})
			continue
		}
		for _, p := range wl.Pods {
			if PodUses(p, cp) {
				u.Pods = append(u.Pods, ObjectRef{Kind: "Pod", Namespace: wl.Namespace, Name: p.Name})
			}
		}
	}
	for _, t := range cp.Tags {
		if !move.Tags[t] {
			u.Tags = append(u.Tags, t)
			u.DefaultInjector = u.DefaultInjector || t == config.DefaultRevision && cp.Default
		}
	}
	slices.Sort(u.Namespaces)
	u.Namespaces = slices.Compact(u.Namespaces)
	slices.Sort(u.Gateways)
	u.Gateways = slices.Compact(u.Gateways)
	slices.SortFunc(u.Pods, func(a, b ObjectRef) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
	u.Pods = slices.CompactFunc(u.Pods, func(a, b ObjectRef) bool { return a == b })
	slices.Sort(u.Tags)
	u.Tags = slices.Compact(u.Tags)
	return u
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
