package plan

import "github.com/meshwave/meshwave/plan/config"

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
	return b.withControlPlane(cp)
}

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
