package generate

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// The clusters of the tests, written as a reader checks them against the
// scenarios of test/meshsim: what providers/kube's ObserveAll would read.

const (
	img26 = "docker.io/istio/proxyv2:1.26.3"
	img27 = "docker.io/istio/proxyv2:1.27.1"
	img16 = "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
)

type cluster struct{ s plan.Snapshot }

func (c *cluster) snapshot() *plan.Snapshot {
	s := c.s
	return &s
}

// namespace adds a namespace with labels given as key, value pairs.
func (c *cluster) namespace(name string, keyValues ...string) *cluster {
	ns := plan.Namespace{Name: name, Labels: map[string]string{}}
	for i := 0; i+1 < len(keyValues); i += 2 {
		ns.Labels[keyValues[i]] = keyValues[i+1]
	}
	c.s.Namespaces = append(c.s.Namespaces, ns)
	return c
}

// apps adds a one-pod Deployment per name, its pod on image and revision.
func (c *cluster) apps(ns, image, revision string, names ...string) *cluster {
	for _, n := range names {
		c.workload(plan.Workload{Kind: plan.KindDeployment, Namespace: ns, Name: n,
			Pods: []plan.Pod{{Name: n + "-1", ProxyImage: image, Revision: revision, Ready: true}}})
	}
	return c
}

func (c *cluster) workload(w plan.Workload) *cluster {
	c.s.Workloads = append(c.s.Workloads, w)
	return c
}

func (c *cluster) gateway(g plan.MeshGateway) *cluster {
	c.s.Gateways = append(c.s.Gateways, g)
	return c
}

// revision adds an upstream control plane with its injector and one per
// tag, as istioctl installs them.
func (c *cluster) revision(rev, version, image string, tags ...string) *cluster {
	cp := plan.ControlPlane{Revision: rev, Kind: "IstioOperator", Name: "istio-" + rev, Namespace: config.IstioNamespace,
		Version: version, ProxyImage: image, Tags: tags, Istiod: []plan.Pod{{Name: "istiod-" + rev + "-1", Ready: true}}}
	c.s.Webhooks = append(c.s.Webhooks, istioInjector(plan.InjectorWebhookName(rev), rev, "", rev, false))
	for _, t := range tags {
		c.s.Webhooks = append(c.s.Webhooks, istioInjector(plan.TagWebhookName(t), rev, t, t, t == config.DefaultRevision))
		cp.Default = cp.Default || t == config.DefaultRevision
	}
	c.s.ControlPlanes = append(c.s.ControlPlanes, cp)
	return c
}

// backyards adds a Backyards control plane (an Istio resource) and its
// injector, as test/meshsim installs it.
func (c *cluster) backyards(name, version, image string, isDefault bool) *cluster {
	rev := config.BackyardsRevision(name, config.IstioNamespace)
	c.s.ControlPlanes = append(c.s.ControlPlanes, plan.ControlPlane{Revision: rev, Kind: "Istio", Name: name, Namespace: config.IstioNamespace,
		Version: version, ProxyImage: image, Default: isDefault, Istiod: []plan.Pod{{Name: "istiod-" + name + "-1", Ready: true}}})
	ns := matching(absent(plan.LabelInjection), in(plan.LabelRevision, rev))
	if isDefault {
		ns = &metav1.LabelSelector{MatchLabels: map[string]string{plan.LabelInjection: "enabled"}}
	}
	c.s.Webhooks = append(c.s.Webhooks, plan.Webhook{Kind: "MutatingWebhookConfiguration", Name: "istio-sidecar-injector-" + strings.ReplaceAll(rev, ".", "-"),
		Revision: rev, Injectors: []plan.InjectorSelectors{{Name: "sidecar-injector.istio.io", NamespaceSelector: ns,
			ObjectSelector: matching(notIn(plan.LabelInjectPod, "false"))}}})
	return c
}

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

// istioInjector is an injection webhook configuration with the selectors
// of Istio's chart (a revision's, or a tag's).
func istioInjector(name, rev, tag, value string, isDefault bool) plan.Webhook {
	w := plan.Webhook{Kind: "MutatingWebhookConfiguration", Name: name, Revision: rev, Tag: tag, Injectors: []plan.InjectorSelectors{
		{Name: "rev.namespace.sidecar-injector.istio.io",
			NamespaceSelector: matching(in(plan.LabelRevision, value), absent(plan.LabelInjection)),
			ObjectSelector:    matching(notIn(plan.LabelInjectPod, "false"))},
		{Name: "rev.object.sidecar-injector.istio.io",
			NamespaceSelector: matching(absent(plan.LabelRevision), absent(plan.LabelInjection)),
			ObjectSelector:    matching(notIn(plan.LabelInjectPod, "false"), in(plan.LabelRevision, value))},
	}}
	if isDefault {
		w.Injectors = append(w.Injectors,
			plan.InjectorSelectors{Name: "namespace.sidecar-injector.istio.io",
				NamespaceSelector: matching(in(plan.LabelInjection, "enabled")),
				ObjectSelector:    matching(notIn(plan.LabelInjectPod, "false"))},
			plan.InjectorSelectors{Name: "object.sidecar-injector.istio.io",
				NamespaceSelector: matching(absent(plan.LabelInjection), absent(plan.LabelRevision)),
				ObjectSelector:    matching(in(plan.LabelInjectPod, "true"), absent(plan.LabelRevision))})
	}
	return w
}

// istioScenario is test/meshsim's istio-1-26-to-1-27: revisions 1-26 (with
// the tag prod) and 1-27, four namespaces on 1-26 directly or through the
// tag, and an ingress gateway Deployment on 1-26.
func istioScenario() *cluster {
	gwTemplate := map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway", plan.LabelRevision: "1-26", plan.LabelInjectPod: "true"}
	gwPods := []plan.Pod{{Name: "istio-ingressgateway-1", ProxyImage: img26, Revision: "1-26", Ready: true}}
	return (&cluster{}).
		revision("1-26", "1.26.3", img26, "prod").
		revision("1-27", "1.27.1", img27).
		namespace("shop-frontend", plan.LabelRevision, "prod", "tier", "frontend").apps("shop-frontend", img26, "1-26", "web", "cart").
		namespace("shop-backend", plan.LabelRevision, "1-26", "tier", "backend").apps("shop-backend", img26, "1-26", "orders", "payments").
		namespace("billing", plan.LabelRevision, "1-26", "tier", "backend").apps("billing", img26, "1-26", "invoices").
		namespace("edge", plan.LabelRevision, "1-26", "tier", "frontend").apps("edge", img26, "1-26", "edge-proxy").
		namespace("istio-ingress").
		workload(plan.Workload{Kind: plan.KindDeployment, Namespace: "istio-ingress", Name: "istio-ingressgateway",
			TemplateLabels: gwTemplate, TemplateAnnotations: map[string]string{plan.AnnotationInjectTemplates: plan.InjectTemplateGateway},
			InjectTemplates: []string{plan.InjectTemplateGateway}, Pods: gwPods}).
		gateway(plan.MeshGateway{Name: "istio-ingressgateway", Namespace: "istio-ingress", ControlPlane: "1-26", Pods: gwPods})
}

// backyardsScenario is test/meshsim's backyards-1.6-to-1.7: the 1.6
// control plane mesh (the default injector) and cp-v17x, Backyards itself
// on cp-v17x, demo-a and demo-b on mesh through istio-injection=enabled.
func backyardsScenario() *cluster {
	const mesh, v17 = "mesh.istio-system", "cp-v17x.istio-system"
	root := true
	return (&cluster{}).
		backyards("mesh", "1.6.3", img16, true).
		backyards("cp-v17x", "1.7.0", img17, false).
		namespace("backyards-system", plan.LabelRevision, v17).apps("backyards-system", img17, v17, "backyards", "backyards-als").
		namespace("demo-a", plan.LabelInjection, "enabled").apps("demo-a", img16, mesh, "app-a").
		namespace("demo-b", plan.LabelInjection, "enabled").apps("demo-b", img16, mesh, "app-b").
		namespace("istio-system").
		gateway(plan.MeshGateway{Name: "istio-ingressgateway", Namespace: "istio-system", ControlPlane: mesh, RunAsRoot: &root,
			Pods: []plan.Pod{{Name: "istio-ingressgateway-1", ProxyImage: img16, Revision: mesh, Ready: true}}}).
		gateway(plan.MeshGateway{Name: "backyards-ingressgateway", Namespace: "backyards-system", ControlPlane: v17, RunAsRoot: &root,
			Pods: []plan.Pod{{Name: "backyards-ingressgateway-1", ProxyImage: img17, Revision: v17, Ready: true}}})
}
