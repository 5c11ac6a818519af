package plan

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan/config"
)

// The builders below write a test's cluster as a specification:
//
//	cluster().
//		withNamespace("shop", LabelRevision, "1-26").
//		withDeployment("shop", "web", podOn("web-1", img26, "1-26")).
//		withRevision("1-26", "1.26.3", img26).
//		build()
//
// Whatever a builder does not set stays the zero value, as in a Snapshot
// literal.

type clusterBuilder struct{ s Snapshot }

func cluster() *clusterBuilder { return &clusterBuilder{} }

// build returns the snapshot built so far.
func (b *clusterBuilder) build() *Snapshot {
	s := b.s
	return &s
}

// withNamespace adds a namespace with labels given as key, value pairs.
func (b *clusterBuilder) withNamespace(name string, keyValues ...string) *clusterBuilder {
	ns := Namespace{Name: name}
	if len(keyValues) > 0 {
		ns.Labels = map[string]string{}
		for i := 0; i+1 < len(keyValues); i += 2 {
			ns.Labels[keyValues[i]] = keyValues[i+1]
		}
	}
	b.s.Namespaces = append(b.s.Namespaces, ns)
	return b
}

// withDeployment adds a Deployment and its pods.
func (b *clusterBuilder) withDeployment(namespace, name string, pods ...Pod) *clusterBuilder {
	return b.withWorkload(Workload{Kind: KindDeployment, Namespace: namespace, Name: name, Pods: pods})
}

// withWorkload adds a workload of any kind.
func (b *clusterBuilder) withWorkload(w Workload) *clusterBuilder {
	b.s.Workloads = append(b.s.Workloads, w)
	return b
}

// withRevision adds an upstream control plane "istio-REV" in istio-system
// with one Ready istiod; more changes it further.
func (b *clusterBuilder) withRevision(rev, version, proxyImage string, more ...func(*ControlPlane)) *clusterBuilder {
	cp := ControlPlane{Revision: rev, Name: "istio-" + rev, Namespace: config.IstioNamespace, Version: version,
		ProxyImage: proxyImage, Istiod: []Pod{{Ready: true}}}
	for _, f := range more {
		f(&cp)
	}
	// What istioctl installs: the revision's injector and one per tag.
	ownDefault := cp.Default && !slices.Contains(cp.Tags, config.DefaultRevision)
	b.withWebhook(istioInjector(InjectorWebhookName(rev), rev, "", rev, ownDefault))
	for _, t := range cp.Tags {
		b.withWebhook(istioInjector(TagWebhookName(t), rev, t, t, t == config.DefaultRevision))
	}
	return b.withControlPlane(cp)
}

// Label selector requirements, as a webhook configuration spells them.
func in(key string, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOpIn, Values: values}
}

func notIn(key string, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOpNotIn, Values: values}
}

func absent(key string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOpDoesNotExist}
}

func matching(reqs ...metav1.LabelSelectorRequirement) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: reqs}
}

// istioInjector is an upstream injection webhook configuration with the
// selectors of Istio's chart (istio-discovery's mutatingwebhook.yaml, and
// the revision-tags template for a tag): rev.namespace injects namespaces
// labeled istio.io/rev=VALUE without istio-injection; rev.object injects pods
// labeled istio.io/rev=VALUE in namespaces with neither label; for the
// default revision (or the default tag) namespace injects
// istio-injection=enabled namespaces, and object pods labeled
// sidecar.istio.io/inject=true without istio.io/rev in unlabeled namespaces.
// Every one honours sidecar.istio.io/inject=false.
func istioInjector(name, rev, tag, value string, isDefault bool) Webhook {
	w := Webhook{Kind: "MutatingWebhookConfiguration", Name: name, Revision: rev, Tag: tag, Injectors: []InjectorSelectors{
		{Name: "rev.namespace.sidecar-injector.istio.io",
			NamespaceSelector: matching(in(LabelRevision, value), absent(LabelInjection)),
			ObjectSelector:    matching(notIn(LabelInjectPod, "false"))},
		{Name: "rev.object.sidecar-injector.istio.io",
			NamespaceSelector: matching(absent(LabelRevision), absent(LabelInjection)),
			ObjectSelector:    matching(notIn(LabelInjectPod, "false"), in(LabelRevision, value))},
	}}
	if isDefault {
		w.Injectors = append(w.Injectors,
			InjectorSelectors{Name: "namespace.sidecar-injector.istio.io",
				NamespaceSelector: matching(in(LabelInjection, "enabled")),
				ObjectSelector:    matching(notIn(LabelInjectPod, "false"))},
			InjectorSelectors{Name: "object.sidecar-injector.istio.io",
				NamespaceSelector: matching(absent(LabelInjection), absent(LabelRevision)),
				ObjectSelector:    matching(in(LabelInjectPod, "true"), absent(LabelRevision))})
	}
	return w
}

// withBackyardsInjector adds the injector of a Backyards (Banzai Cloud
// istio-operator) control plane, as test/meshsim installs it: the default
// control plane's selects istio-injection=enabled namespaces, another's
// namespaces labeled istio.io/rev=REVISION without istio-injection; both
// honour sidecar.istio.io/inject=false, and neither selects on a pod's
// istio.io/rev.
func (b *clusterBuilder) withBackyardsInjector(rev string, isDefault bool) *clusterBuilder {
	ns := matching(absent(LabelInjection), in(LabelRevision, rev))
	if isDefault {
		ns = &metav1.LabelSelector{MatchLabels: map[string]string{LabelInjection: "enabled"}}
	}
	return b.withWebhook(Webhook{Kind: "MutatingWebhookConfiguration", Name: "istio-sidecar-injector-" + strings.ReplaceAll(rev, ".", "-"), Revision: rev,
		Injectors: []InjectorSelectors{{Name: "sidecar-injector.istio.io", NamespaceSelector: ns, ObjectSelector: matching(notIn(LabelInjectPod, "false"))}}})
}

// optedOut is the pod-template label that opts a workload out of injection.
var optedOut = map[string]string{LabelInjectPod: "false"}

// withControlPlane adds a control plane as given.
func (b *clusterBuilder) withControlPlane(cp ControlPlane) *clusterBuilder {
	b.s.ControlPlanes = append(b.s.ControlPlanes, cp)
	return b
}

// withWebhook adds an admission webhook configuration.
func (b *clusterBuilder) withWebhook(w Webhook) *clusterBuilder {
	b.s.Webhooks = append(b.s.Webhooks, w)
	return b
}

// tagged makes a control plane the one revision tags point at.
func tagged(tags ...string) func(*ControlPlane) {
	return func(cp *ControlPlane) { cp.Tags = tags }
}

// podOn is a Ready pod running proxyImage, injected by revision.
func podOn(name, proxyImage, revision string) Pod {
	return Pod{Name: name, ProxyImage: proxyImage, Revision: revision, Ready: true}
}

// withGateway adds a gateway.
func (b *clusterBuilder) withGateway(g MeshGateway) *clusterBuilder {
	b.s.Gateways = append(b.s.Gateways, g)
	return b
}

// withBackyards sets the installed Backyards release.
func (b *clusterBuilder) withBackyards(version string) *clusterBuilder {
	b.s.BackyardsVersion = version
	return b
}
