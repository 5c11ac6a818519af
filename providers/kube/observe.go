package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// Well-known labels and annotations.
const (
	labelApp         = "app"
	proxyContainer   = "istio-proxy"
	annoRestartedAt  = "kubectl.kubernetes.io/restartedAt"
	labelBackyardsV  = "app.kubernetes.io/version"
	backyardsNS      = "backyards-system"
	backyardsAppName = "backyards"
)

// Observe reads everything a plan needs from the cluster. It lists each
// resource type once, cluster-wide and paginated, so its request count does
// not depend on the number of namespaces.
func (p *Provider) Observe(ctx context.Context, cfg *config.Config) (*plan.Snapshot, error) {
	objs, err := p.fetch(ctx)
	if err != nil {
		return nil, err
	}
	var (
		install  []plan.ManifestObjectState
		versions []plan.ObjectVersion
	)
	if cfg.Install != nil {
		if install, versions, err = p.observeManifest(ctx, cfg.Install.Objects); err != nil {
			return nil, fmt.Errorf("read the objects of %s: %w", cfg.Install.Manifest, err)
		}
		// The plan is computed against the cluster as the install leaves it.
		objs = p.flavor.asInstalled(objs, cfg.Install.Objects)
	}
	snap := snapshotOf(p.flavor, cfg, objs)
	if cfg.Install != nil {
		snap.Install = install
		snap.Objects = withVersions(snap.Objects, versions)
	}
	perms, err := p.permissions(ctx, cfg, snap)
	if err != nil {
		return nil, err
	}
	snap.Permissions = perms
	snap.PermissionsOf = p.permissionsFor
	return snap, nil
}

// ObserveAll reads the cluster for a plan not written yet (meshwave
// generate): what Observe reads, with every gateway of the flavor rather
// than those a plan names, and no permission checks (there is no plan to
// check them for).
func (p *Provider) ObserveAll(ctx context.Context) (*plan.Snapshot, error) {
	objs, err := p.fetch(ctx)
	if err != nil {
		return nil, err
	}
	return snapshotOf(p.flavor, nil, objs), nil
}

// snapshotOf turns what fetch read into the plan's snapshot, for a plan of
// cfg (nil: ObserveAll). It is pure, so the conversion is tested without an
// API server.
func snapshotOf(fl flavor, cfg *config.Config, o *clusterObjects) *plan.Snapshot {
	snap := &plan.Snapshot{ServerVersion: o.serverVersion}
	for i := range o.namespaces {
		ns := &o.namespaces[i]
		snap.Namespaces = append(snap.Namespaces, plan.Namespace{Name: ns.Name, Labels: ns.Labels, Terminating: ns.DeletionTimestamp != nil,
			Management: managementOf(ns)})
		snap.Objects = append(snap.Objects, objectVersion("Namespace", &ns.ObjectMeta))
	}
	snap.Workloads = workloadsOf(o)
	for i := range o.deployments {
		snap.Objects = append(snap.Objects, objectVersion("Deployment", &o.deployments[i].ObjectMeta))
	}
	for i := range o.statefulSets {
		snap.Objects = append(snap.Objects, objectVersion("StatefulSet", &o.statefulSets[i].ObjectMeta))
	}
	for i := range o.daemonSets {
		ds := &o.daemonSets[i]
		snap.Objects = append(snap.Objects, objectVersion("DaemonSet", &ds.ObjectMeta))
		if slices.Contains(plan.SharedProxyNames, ds.Name) {
			snap.SharedProxies = append(snap.SharedProxies, plan.ObjectRef{Kind: "DaemonSet", Namespace: ds.Namespace, Name: ds.Name})
		}
	}
	for _, s := range o.services {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			snap.HeadlessServices = append(snap.HeadlessServices, plan.ObjectRef{Kind: "Service", Namespace: s.Namespace, Name: s.Name})
		}
	}
	snap.Webhooks = webhooksOf(o.mutating, o.validating)
	for i := range o.mutating {
		if wh := &o.mutating[i]; wh.Labels[plan.LabelRevision] != "" {
			snap.Objects = append(snap.Objects, objectVersion("MutatingWebhookConfiguration", &wh.ObjectMeta))
		}
	}
	snap.ControlPlanes = fl.controlPlanes(o)
	addControlPlaneFacts(snap.ControlPlanes, o.pods, o.mutating)
	for _, gvr := range []schema.GroupVersionResource{gvrIstio, gvrIstioOperator, gvrMeshGateway, gvrEnvoyFilter, gvrRollout} {
		for i := range o.crs[gvr] {
			u := &o.crs[gvr][i]
			snap.Objects = append(snap.Objects, plan.ObjectVersion{
				ObjectRef: plan.ObjectRef{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()},
				UID:       string(u.GetUID()), ResourceVersion: u.GetResourceVersion()})
		}
	}
	snap.Gateways = fl.gateways(cfg, o)
	for _, u := range o.crs[gvrEnvoyFilter] {
		snap.EnvoyFilters = append(snap.EnvoyFilters, envoyFilterOf(u))
	}
	snap.BackyardsVersion = backyardsVersion(o.deployments)
	sort.Slice(snap.Objects, func(i, j int) bool {
		return objectKey(snap.Objects[i].ObjectRef) < objectKey(snap.Objects[j].ObjectRef)
	})
	return snap
}

// withVersions adds to objects, sorted, those of more it does not hold.
func withVersions(objects, more []plan.ObjectVersion) []plan.ObjectVersion {
	have := map[string]bool{}
	for _, o := range objects {
		have[objectKey(o.ObjectRef)] = true
	}
	for _, o := range more {
		if !have[objectKey(o.ObjectRef)] {
			objects = append(objects, o)
			have[objectKey(o.ObjectRef)] = true
		}
	}
	sort.Slice(objects, func(i, j int) bool { return objectKey(objects[i].ObjectRef) < objectKey(objects[j].ObjectRef) })
	return objects
}

func objectKey(r plan.ObjectRef) string { return r.Kind + "/" + r.Namespace + "/" + r.Name }

func objectVersion(kind string, m *metav1.ObjectMeta) plan.ObjectVersion {
	return plan.ObjectVersion{ObjectRef: plan.ObjectRef{Kind: kind, Namespace: m.Namespace, Name: m.Name},
		UID: string(m.UID), ResourceVersion: m.ResourceVersion}
}

// podFacts extracts the proxy facts of a pod.
func podFacts(pod *corev1.Pod) plan.Pod {
	out := plan.Pod{Name: pod.Name, Revision: plan.PodRevision(pod.Labels, pod.Annotations)}
	for _, c := range pod.Spec.Containers {
		if c.Name == proxyContainer {
			out.ProxyImage = c.Image
		}
	}
	// A native sidecar (Kubernetes 1.29+, Istio's ENABLE_NATIVE_SIDECARS):
	// the proxy is an init container that keeps running.
	for _, c := range pod.Spec.InitContainers {
		if c.Name == proxyContainer && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out.ProxyImage = c.Image
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			out.Ready = true
		}
	}
	return out
}

// defaultInjector reports whether a webhook configuration injects namespaces
// labeled istio-injection=enabled.
func defaultInjector(wh *admissionregistrationv1.MutatingWebhookConfiguration) bool {
	for _, w := range wh.Webhooks {
		sel := w.NamespaceSelector
		if sel == nil {
			continue
		}
		if sel.MatchLabels[plan.LabelInjection] == "enabled" {
			return true
		}
		for _, e := range sel.MatchExpressions {
			if e.Key == plan.LabelInjection && e.Operator == metav1.LabelSelectorOpIn {
				for _, v := range e.Values {
					if v == "enabled" {
						return true
					}
				}
			}
		}
	}
	return false
}

// addControlPlaneFacts adds each control plane's istiod pods, the revision
// tags pointing at it and whether it is the default injector.
func addControlPlaneFacts(cps []plan.ControlPlane, pods []corev1.Pod, webhooks []admissionregistrationv1.MutatingWebhookConfiguration) {
	for i := range cps {
		cp := &cps[i]
		for j := range pods {
			pod := &pods[j]
			if observed(pod) && pod.Labels[labelApp] == "istiod" && pod.Labels[plan.LabelRevision] == cp.Revision {
				cp.Istiod = append(cp.Istiod, podFacts(pod))
			}
		}
		for k := range webhooks {
			wh := &webhooks[k]
			if wh.Labels[plan.LabelRevision] != cp.Revision {
				continue
			}
			if tag := wh.Labels[plan.LabelTag]; tag != "" {
				cp.Tags = append(cp.Tags, tag)
				if tag == config.DefaultRevision && defaultInjector(wh) {
					cp.Default = true
				}
				continue
			}
			if defaultInjector(wh) {
				cp.Default = true
			}
		}
		sort.Strings(cp.Tags)
	}
}

func gatewayPods(ns, name string, pods []corev1.Pod) []plan.Pod {
	var out []plan.Pod
	for i := range pods {
		pod := &pods[i]
		if pod.Namespace == ns && observed(pod) && isGatewayPod(pod.Labels, name) {
			out = append(out, podFacts(pod))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// stringField reads a string field of a custom resource; a field that is
// missing or not a string reads as empty, which every caller takes as "not
// set" (the resource's schema makes it a string).
func stringField(obj map[string]any, fields ...string) string {
	s, _, _ := unstructured.NestedString(obj, fields...) // not a string: not set
	return s
}

// intField reads an integer field of a custom resource, decoded from JSON or
// YAML; any other value reads as 0.
func intField(m map[string]any, key string) int64 {
	switch v := m[key].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case int32:
		return int64(v)
	case int:
		return int64(v)
	}
	return 0
}

// envoyFilterOf finds Lua patches and whether they use the pre-1.7 syntax.
func envoyFilterOf(u unstructured.Unstructured) plan.EnvoyFilter {
	f := plan.EnvoyFilter{Namespace: u.GetNamespace(), Name: u.GetName(), ProxyVersionMatch: true}
	patches, _, _ := unstructured.NestedSlice(u.Object, "spec", "configPatches") // not a list: no patches
	for _, raw := range patches {
		m, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		name := stringField(m, "patch", "value", "name")
		if !strings.Contains(name, "lua") {
			continue
		}
		f.UsesLua = true
		if _, found, err := unstructured.NestedFieldNoCopy(m, "patch", "value", "config"); found && err == nil {
			f.OldLuaSyntax = true
		}
		if stringField(m, "match", "proxy", "proxyVersion") == "" {
			f.ProxyVersionMatch = false
		}
	}
	if !f.UsesLua {
		f.ProxyVersionMatch = false
	}
	return f
}

// backyardsVersion reads the Backyards release from its main deployment.
func backyardsVersion(deps []appsv1.Deployment) string {
	for _, d := range deps {
		if d.Namespace != backyardsNS {
			continue
		}
		if v := d.Labels[labelBackyardsV]; v != "" && (d.Name == backyardsAppName || d.Labels[labelApp] == backyardsAppName) {
			return strings.TrimPrefix(v, "v")
		}
	}
	return ""
}
