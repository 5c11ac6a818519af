package plan

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Which injector mutates a new pod is decided by the API server, not by a
// label convention: it calls every mutating webhook whose namespaceSelector
// selects the pod's namespace and whose objectSelector selects the pod. The
// precedence between the labels (a namespace's istio.io/rev beats a pod's,
// istio-injection beats both, sidecar.istio.io/inject=false opts out, a
// pod's istio.io/rev in an unlabeled namespace is injected through the
// object selector) is written in the selectors Istio installs, so evaluating
// the selectors as the cluster holds them gives Istio's answer, and that of
// any other injector (Backyards, a hand-made webhook) alike. The injector
// the API server calls then reads the pod's own opt-out
// (InjectionOptedOut: sidecar.istio.io/inject as label or annotation),
// which Istio's object selectors only partly repeat. PodInjections is that
// rule, once: restarts, the wave's opted-out workloads, the relabel no-op,
// the checks and the uninstall's re-check all ask it.

// Labels the injection webhooks select on, besides LabelInjection and
// LabelRevision.
const (
	// LabelInjectPod opts a pod out of injection ("false") or, for the
	// default revision, in ("true"); the injector reads an annotation of
	// that name too (older), see InjectionOptedOut.
	LabelInjectPod = "sidecar.istio.io/inject"
	// LabelNamespaceName is set on every namespace by the API server, to the
	// namespace's name; webhooks select on it to leave namespaces out.
	LabelNamespaceName = "kubernetes.io/metadata.name"
)

// Injection is one sidecar-injection webhook the API server would call for a
// new pod.
type Injection struct {
	// Configuration names the MutatingWebhookConfiguration, Webhook its
	// webhook.
	Configuration string
	Webhook       string
	// Revision is the revision that injects: the one the configuration's
	// revision tag points at, else its istio.io/rev label; empty when
	// neither names one.
	Revision string
}

// String is "CONFIGURATION/WEBHOOK".
func (i Injection) String() string { return i.Configuration + "/" + i.Webhook }

// PodInjections lists the injection webhooks that inject a pod with
// podLabels and podAnnotations created in namespace with nsLabels: those the
// API server calls, whose namespaceSelector selects the namespace (with the
// LabelNamespaceName the API server adds) and whose objectSelector selects
// the pod; none when the pod opts out (InjectionOptedOut), which the
// injector they call honours whatever its selectors say. route resolves a
// revision tag's webhook to the revision the tag points at (after the
// plan's tag moves, when the caller passes that routing table). Istio
// expects at most one (istioctl analyze IST0139).
func PodInjections(webhooks []Webhook, route Injectors, namespace string, nsLabels, podLabels, podAnnotations map[string]string) []Injection {
	return compileInjectors(webhooks).podInjections(route, namespace, nsLabels, podLabels, podAnnotations)
}

// InjectionOptedOut reports whether a pod (template) with these labels and
// annotations opts out of sidecar injection, as Istio's injector reads it:
// the sidecar.istio.io/inject label, else the annotation of that name; a
// value other than y, yes, true or on (in any case) opts out, and an empty
// or missing one leaves it to the namespace. Istio's object selectors
// leave out only the label's value "false"; the injector they call skips
// the rest. PodInjections asks it first: an opted-out workload is neither
// restarted nor verified, its next pods get no proxy whichever revision
// the namespace selects.
func InjectionOptedOut(labels, annotations map[string]string) bool {
	v, ok := labels[LabelInjectPod]
	if !ok {
		v = annotations[LabelInjectPod]
	}
	switch strings.ToLower(v) {
	case "", "y", "yes", "true", "on":
		return false
	}
	return true
}

// injectorSet is every injection webhook of a snapshot with its selectors
// parsed once, for the planner's many questions about one cluster.
type injectorSet []compiledInjector

type compiledInjector struct {
	webhook Webhook
	name    string
	ns, obj labels.Selector
}

func compileInjectors(webhooks []Webhook) injectorSet {
	var out injectorSet
	for _, w := range webhooks {
		for _, in := range w.Injectors {
			out = append(out, compiledInjector{webhook: w, name: in.Name, ns: selectorOf(in.NamespaceSelector), obj: selectorOf(in.ObjectSelector)})
		}
	}
	return out
}

// podInjections is PodInjections on the parsed selectors.
func (set injectorSet) podInjections(route Injectors, namespace string, nsLabels, podLabels, podAnnotations map[string]string) []Injection {
	if InjectionOptedOut(podLabels, podAnnotations) {
		return nil
	}
	ns := namespaceLabels{name: namespace, set: nsLabels}
	var out []Injection
	for _, in := range set {
		if in.ns.Matches(ns) && in.obj.Matches(labels.Set(podLabels)) {
			out = append(out, Injection{Configuration: in.webhook.Name, Webhook: in.name, Revision: route.webhookRevision(in.webhook)})
		}
	}
	return out
}

// InjectedBy is the revision that injects a pod these webhooks are called
// for: empty when none is called, or when they name different revisions
// (then which one injects is undefined).
func InjectedBy(injections []Injection) string {
	rev := ""
	for i, in := range injections {
		if i > 0 && in.Revision != rev {
			return ""
		}
		rev = in.Revision
	}
	return rev
}

// injectsRevision reports whether one of the injections is by revision rev.
func injectsRevision(injections []Injection, rev string) bool {
	for _, in := range injections {
		if in.Revision == rev {
			return true
		}
	}
	return false
}

// selectorOf is a webhook's selector as the API server evaluates it: nil
// selects everything; a selector that cannot be read (the API server would
// not have admitted it) selects nothing.
func selectorOf(sel *metav1.LabelSelector) labels.Selector {
	if sel == nil {
		return labels.Everything()
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return labels.Nothing()
	}
	return s
}

// webhookRevision is the revision a webhook configuration injects: a
// revision tag's is the revision the routing table says the tag points at
// ("" for a tag the plan moves away, see Move), any other's its
// istio.io/rev label.
func (in Injectors) webhookRevision(w Webhook) string {
	if w.Tag != "" {
		if rev, ok := in.Tags[w.Tag]; ok {
			return rev
		}
	}
	return w.Revision
}

// PinLabel names the label of a pod template that selects its injector
// through the object selector: istio.io/rev, else sidecar.istio.io/inject,
// as "KEY=VALUE"; empty when it has neither.
func PinLabel(templateLabels map[string]string) string {
	for _, k := range []string{LabelRevision, LabelInjectPod} {
		if v, ok := templateLabels[k]; ok {
			return k + "=" + v
		}
	}
	return ""
}

// namespaceLabels are a namespace's labels as a webhook's namespaceSelector
// sees them: with LabelNamespaceName, which the API server sets to its name.
type namespaceLabels struct {
	name string
	set  map[string]string
}

var _ labels.Labels = namespaceLabels{}

func (n namespaceLabels) Lookup(key string) (string, bool) {
	if key == LabelNamespaceName {
		return n.name, true
	}
	v, ok := n.set[key]
	return v, ok
}

func (n namespaceLabels) Has(key string) bool {
	_, ok := n.Lookup(key)
	return ok
}

func (n namespaceLabels) Get(key string) string {
	v, _ := n.Lookup(key)
	return v
}
