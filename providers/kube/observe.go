package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/pager"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// Well-known labels and annotations.
const (
	labelInjectPod   = "sidecar.istio.io/inject"
	labelApp         = "app"
	proxyContainer   = "istio-proxy"
	annoRestartedAt  = "kubectl.kubernetes.io/restartedAt"
	labelBackyardsV  = "app.kubernetes.io/version"
	backyardsNS      = "backyards-system"
	backyardsAppName = "backyards"
)

// clusterObjects is what Observe reads, before it is turned into a
// snapshot by snapshotOf.
type clusterObjects struct {
	serverVersion string
	namespaces    []corev1.Namespace
	pods          []corev1.Pod
	replicaSets   []appsv1.ReplicaSet
	deployments   []appsv1.Deployment
	statefulSets  []appsv1.StatefulSet
	daemonSets    []appsv1.DaemonSet
	services      []corev1.Service
	mutating      []admissionregistrationv1.MutatingWebhookConfiguration
	validating    []admissionregistrationv1.ValidatingWebhookConfiguration
	// configMaps are the ConfigMaps labeled with a revision (the injector's
	// values name a revision's hub and tag).
	configMaps []corev1.ConfigMap
	// installed are the objects that make up installed revisions (the
	// UninstallSelector of any revision), by kind.
	installed map[schema.GroupVersionResource][]metav1.PartialObjectMetadata
	crs       map[schema.GroupVersionResource][]unstructured.Unstructured
}

// Observe reads everything a plan needs from the cluster. It lists each
// resource type once, cluster-wide and paginated, so its request count does
// not depend on the number of namespaces.
func (p *Provider) Observe(ctx context.Context, cfg *config.Config) (*plan.Snapshot, error) {
	objs, err := p.fetch(ctx)
	if err != nil {
		return nil, err
	}
	snap := snapshotOf(p.flavor, cfg, objs)
	perms, err := p.permissions(ctx, cfg, snap)
	if err != nil {
		return nil, err
	}
	snap.Permissions = perms
	return snap, nil
}

// fetch lists every object a snapshot is made of.
func (p *Provider) fetch(ctx context.Context) (*clusterObjects, error) {
	o := &clusterObjects{}
	v, err := p.cs.Discovery().ServerVersionWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read server version: %w", err)
	}
	o.serverVersion = v.GitVersion
	for _, l := range p.builtinLists(o) {
		pg := pager.New(l.fn)
		pg.PageSize = p.pageSize
		if err := pg.EachListItem(ctx, l.opts, l.each); err != nil {
			return nil, fmt.Errorf("list %s: %w", l.what, err)
		}
	}
	o.crs = map[schema.GroupVersionResource][]unstructured.Unstructured{}
	for _, gvr := range []schema.GroupVersionResource{gvrIstio, gvrMeshGateway, gvrEnvoyFilter, gvrIstioOperator} {
		items, err := p.listCustom(ctx, gvr)
		if err != nil {
			return nil, err
		}
		o.crs[gvr] = items
	}
	if p.flavor == plan.FlavorIstio {
		o.installed, err = p.listInstalled(ctx)
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// resourceList is one built-in resource type fetch lists, page by page,
// into clusterObjects.
type resourceList struct {
	what string
	opts metav1.ListOptions
	fn   pager.ListPageFunc
	each func(runtime.Object) error
}

// builtinLists are the built-in resource types a snapshot is made of, each
// listed once, cluster-wide, into o.
func (p *Provider) builtinLists(o *clusterObjects) []resourceList {
	revisioned := metav1.ListOptions{LabelSelector: plan.LabelRevision}
	return []resourceList{
		{"namespaces", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().Namespaces().List(ctx, opts)
		}, func(x runtime.Object) error { o.namespaces = append(o.namespaces, *x.(*corev1.Namespace)); return nil }},
		{"pods", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().Pods("").List(ctx, opts)
		}, func(x runtime.Object) error { o.pods = append(o.pods, *x.(*corev1.Pod)); return nil }},
		{"replicasets", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AppsV1().ReplicaSets("").List(ctx, opts)
		}, func(x runtime.Object) error {
			o.replicaSets = append(o.replicaSets, *x.(*appsv1.ReplicaSet))
			return nil
		}},
		{"deployments", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AppsV1().Deployments("").List(ctx, opts)
		}, func(x runtime.Object) error {
			o.deployments = append(o.deployments, *x.(*appsv1.Deployment))
			return nil
		}},
		{"statefulsets", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AppsV1().StatefulSets("").List(ctx, opts)
		}, func(x runtime.Object) error {
			o.statefulSets = append(o.statefulSets, *x.(*appsv1.StatefulSet))
			return nil
		}},
		{"daemonsets", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AppsV1().DaemonSets("").List(ctx, opts)
		}, func(x runtime.Object) error { o.daemonSets = append(o.daemonSets, *x.(*appsv1.DaemonSet)); return nil }},
		{"services", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().Services("").List(ctx, opts)
		}, func(x runtime.Object) error { o.services = append(o.services, *x.(*corev1.Service)); return nil }},
		{"mutatingwebhookconfigurations", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, opts)
		}, func(x runtime.Object) error {
			o.mutating = append(o.mutating, *x.(*admissionregistrationv1.MutatingWebhookConfiguration))
			return nil
		}},
		{"validatingwebhookconfigurations", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, opts)
		}, func(x runtime.Object) error {
			o.validating = append(o.validating, *x.(*admissionregistrationv1.ValidatingWebhookConfiguration))
			return nil
		}},
		{"configmaps", revisioned, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().ConfigMaps("").List(ctx, opts)
		}, func(x runtime.Object) error { o.configMaps = append(o.configMaps, *x.(*corev1.ConfigMap)); return nil }},
	}
}

// snapshotOf turns what fetch read into the plan's snapshot. It is pure, so
// the conversion is tested without an API server.
func snapshotOf(flavor plan.Flavor, cfg *config.Config, o *clusterObjects) *plan.Snapshot {
	snap := &plan.Snapshot{ServerVersion: o.serverVersion}
	for i := range o.namespaces {
		ns := &o.namespaces[i]
		snap.Namespaces = append(snap.Namespaces, plan.Namespace{Name: ns.Name, Labels: ns.Labels})
		snap.Objects = append(snap.Objects, objectVersion("Namespace", &ns.ObjectMeta))
	}
	snap.Workloads = workloadsOf(o.pods, o.replicaSets, o.deployments, o.statefulSets, o.daemonSets)
	for i := range o.deployments {
		snap.Objects = append(snap.Objects, objectVersion("Deployment", &o.deployments[i].ObjectMeta))
	}
	for i := range o.statefulSets {
		snap.Objects = append(snap.Objects, objectVersion("StatefulSet", &o.statefulSets[i].ObjectMeta))
	}
	for i := range o.daemonSets {
		snap.Objects = append(snap.Objects, objectVersion("DaemonSet", &o.daemonSets[i].ObjectMeta))
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
	if flavor == plan.FlavorIstio {
		snap.ControlPlanes = istioControlPlanes(o)
	} else {
		snap.ControlPlanes = backyardsControlPlanes(o.crs[gvrIstio])
	}
	addControlPlaneFacts(snap.ControlPlanes, o.pods, o.mutating)
	for _, gvr := range []schema.GroupVersionResource{gvrIstio, gvrIstioOperator, gvrMeshGateway, gvrEnvoyFilter} {
		for i := range o.crs[gvr] {
			u := &o.crs[gvr][i]
			snap.Objects = append(snap.Objects, plan.ObjectVersion{
				ObjectRef: plan.ObjectRef{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()},
				UID:       string(u.GetUID()), ResourceVersion: u.GetResourceVersion()})
		}
	}
	if flavor == plan.FlavorIstio {
		snap.Gateways = istioGateways(cfg, o.deployments, o.pods)
	} else {
		snap.Gateways = meshGateways(o.crs[gvrMeshGateway], o.pods)
	}
	for _, u := range o.crs[gvrEnvoyFilter] {
		snap.EnvoyFilters = append(snap.EnvoyFilters, envoyFilterOf(u))
	}
	snap.BackyardsVersion = backyardsVersion(o.deployments)
	sort.Slice(snap.Objects, func(i, j int) bool {
		return objectKey(snap.Objects[i].ObjectRef) < objectKey(snap.Objects[j].ObjectRef)
	})
	return snap
}

// listCustom lists a custom resource cluster-wide; a resource whose CRD is
// not installed lists as empty.
func (p *Provider) listCustom(ctx context.Context, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	pg := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return p.dyn.Resource(gvr).Namespace("").List(ctx, o)
	})
	pg.PageSize = p.pageSize
	err := pg.EachListItem(ctx, metav1.ListOptions{}, func(o runtime.Object) error {
		out = append(out, *o.(*unstructured.Unstructured))
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", gvr.GroupResource(), err)
	}
	return out, nil
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
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			out.Ready = true
		}
	}
	return out
}

// workloadsOf groups pods by the workload a restart acts on.
func workloadsOf(pods []corev1.Pod, rss []appsv1.ReplicaSet, deps []appsv1.Deployment, stss []appsv1.StatefulSet, dss []appsv1.DaemonSet) []plan.Workload {
	ix := newWorkloadIndex(rss, deps, stss, dss)
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		w := ix.controllerOf(pod)
		if pod.Labels[labelInjectPod] == "false" {
			w.InjectDisabled = true
		}
		w.Pods = append(w.Pods, podFacts(pod))
	}
	sort.Strings(ix.order)
	out := make([]plan.Workload, 0, len(ix.order))
	for _, k := range ix.order {
		w := ix.byKey[k]
		sort.Slice(w.Pods, func(i, j int) bool { return w.Pods[i].Name < w.Pods[j].Name })
		out = append(out, *w)
	}
	return out
}

// workloadIndex finds the workload a pod belongs to, with the rollout facts
// of its controller.
type workloadIndex struct {
	rsOwner  map[string]string // ns/rs -> deployment name
	depByKey map[string]*appsv1.Deployment
	stsByKey map[string]*appsv1.StatefulSet
	dss      []appsv1.DaemonSet
	byKey    map[string]*plan.Workload
	order    []string
}

func newWorkloadIndex(rss []appsv1.ReplicaSet, deps []appsv1.Deployment, stss []appsv1.StatefulSet, dss []appsv1.DaemonSet) *workloadIndex {
	ix := &workloadIndex{rsOwner: map[string]string{}, depByKey: map[string]*appsv1.Deployment{},
		stsByKey: map[string]*appsv1.StatefulSet{}, dss: dss, byKey: map[string]*plan.Workload{}}
	for _, rs := range rss {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Deployment" {
			ix.rsOwner[rs.Namespace+"/"+rs.Name] = ref.Name
		}
	}
	for i := range deps {
		ix.depByKey[deps[i].Namespace+"/"+deps[i].Name] = &deps[i]
	}
	for i := range stss {
		ix.stsByKey[stss[i].Namespace+"/"+stss[i].Name] = &stss[i]
	}
	return ix
}

func (ix *workloadIndex) get(kind plan.WorkloadKind, ns, name string) *plan.Workload {
	k := string(kind) + "/" + ns + "/" + name
	w, ok := ix.byKey[k]
	if !ok {
		w = &plan.Workload{Kind: kind, Namespace: ns, Name: name}
		ix.byKey[k] = w
		ix.order = append(ix.order, k)
	}
	return w
}

// controllerOf is the workload of pod: its Deployment (through its
// ReplicaSet), StatefulSet, DaemonSet or other controller, or the pod itself.
func (ix *workloadIndex) controllerOf(pod *corev1.Pod) *plan.Workload {
	ref := metav1.GetControllerOf(pod)
	switch {
	case ref == nil:
		return ix.get(plan.KindBarePod, pod.Namespace, pod.Name)
	case ref.Kind == "ReplicaSet" && ix.rsOwner[pod.Namespace+"/"+ref.Name] != "":
		name := ix.rsOwner[pod.Namespace+"/"+ref.Name]
		w := ix.get(plan.KindDeployment, pod.Namespace, name)
		if d := ix.depByKey[pod.Namespace+"/"+name]; d != nil {
			w.Paused = deploymentRollout(d).Paused
		}
		return w
	case ref.Kind == "StatefulSet":
		w := ix.get(plan.KindStatefulSet, pod.Namespace, ref.Name)
		if s := ix.stsByKey[pod.Namespace+"/"+ref.Name]; s != nil {
			w.UpdateStrategy = statefulSetRollout(s).UpdateStrategy
		}
		return w
	case ref.Kind == "DaemonSet":
		w := ix.get(plan.KindDaemonSet, pod.Namespace, ref.Name)
		for i := range ix.dss {
			if ix.dss[i].Namespace == pod.Namespace && ix.dss[i].Name == ref.Name {
				w.UpdateStrategy = daemonSetRollout(&ix.dss[i]).UpdateStrategy
			}
		}
		return w
	}
	// A Job, or a controller meshwave does not know.
	return ix.get(plan.WorkloadKind(ref.Kind), pod.Namespace, ref.Name)
}

// The facts plan.NotRollable decides on, read from each kind of pod owner.
func deploymentRollout(d *appsv1.Deployment) plan.RolloutFacts {
	return plan.RolloutFacts{Kind: plan.KindDeployment, Paused: d.Spec.Paused}
}

func statefulSetRollout(s *appsv1.StatefulSet) plan.RolloutFacts {
	return plan.RolloutFacts{Kind: plan.KindStatefulSet, UpdateStrategy: string(s.Spec.UpdateStrategy.Type)}
}

func daemonSetRollout(d *appsv1.DaemonSet) plan.RolloutFacts {
	return plan.RolloutFacts{Kind: plan.KindDaemonSet, UpdateStrategy: string(d.Spec.UpdateStrategy.Type)}
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

// backyardsControlPlanes reads the Backyards control planes from their
// Istio resources.
func backyardsControlPlanes(istios []unstructured.Unstructured) []plan.ControlPlane {
	var cps []plan.ControlPlane
	for _, u := range istios {
		version, _, _ := unstructured.NestedString(u.Object, "spec", "version")
		img, _, _ := unstructured.NestedString(u.Object, "spec", "proxy", "image")
		cps = append(cps, plan.ControlPlane{Revision: config.BackyardsRevision(u.GetName(), u.GetNamespace()),
			Kind: "Istio", Name: u.GetName(), Namespace: u.GetNamespace(),
			Version: strings.TrimPrefix(version, "v"), ProxyImage: img})
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Revision < cps[j].Revision })
	return cps
}

// addControlPlaneFacts adds each control plane's istiod pods, the revision
// tags pointing at it and whether it is the default injector.
func addControlPlaneFacts(cps []plan.ControlPlane, pods []corev1.Pod, webhooks []admissionregistrationv1.MutatingWebhookConfiguration) {
	for i := range cps {
		cp := &cps[i]
		for j := range pods {
			pod := &pods[j]
			if pod.DeletionTimestamp == nil && pod.Labels[labelApp] == "istiod" && pod.Labels[plan.LabelRevision] == cp.Revision {
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

func meshGateways(items []unstructured.Unstructured, pods []corev1.Pod) []plan.MeshGateway {
	var out []plan.MeshGateway
	for _, u := range items {
		name, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "name")
		ns, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "namespace")
		g := plan.MeshGateway{Name: u.GetName(), Namespace: u.GetNamespace(), ControlPlane: config.BackyardsRevision(name, ns)}
		if v, found, _ := unstructured.NestedBool(u.Object, "spec", "runAsRoot"); found {
			g.RunAsRoot = &v
		}
		ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports")
		for _, raw := range ports {
			m, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			gp := plan.GatewayPort{}
			gp.Name, _, _ = unstructured.NestedString(m, "name")
			gp.Port = int32(intField(m, "port"))
			gp.TargetPort = int32(intField(m, "targetPort"))
			g.Ports = append(g.Ports, gp)
		}
		g.Pods = gatewayPods(u.GetNamespace(), u.GetName(), pods)
		out = append(out, g)
	}
	return out
}

func gatewayPods(ns, name string, pods []corev1.Pod) []plan.Pod {
	var out []plan.Pod
	for i := range pods {
		pod := &pods[i]
		if pod.Namespace == ns && pod.DeletionTimestamp == nil && (pod.Labels[labelApp] == name || pod.Labels["gateway-name"] == name) {
			out = append(out, podFacts(pod))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// istioGateways reads the upstream-Istio gateways a plan names: Deployments
// whose pod template carries the istio.io/rev label.
func istioGateways(cfg *config.Config, deps []appsv1.Deployment, pods []corev1.Pod) []plan.MeshGateway {
	var out []plan.MeshGateway
	for _, gc := range cfg.Gateways {
		for _, d := range deps {
			if d.Namespace != gc.Namespace || d.Name != gc.Name {
				continue
			}
			g := plan.MeshGateway{Name: d.Name, Namespace: d.Namespace, ControlPlane: d.Spec.Template.Labels[plan.LabelRevision]}
			root := true
			if sc := d.Spec.Template.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot {
				root = false
			}
			g.RunAsRoot = &root
			g.Pods = gatewayPods(d.Namespace, d.Name, pods)
			out = append(out, g)
		}
	}
	return out
}

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
	patches, _, _ := unstructured.NestedSlice(u.Object, "spec", "configPatches")
	for _, raw := range patches {
		m, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		name, _, _ := unstructured.NestedString(m, "patch", "value", "name")
		if !strings.Contains(name, "lua") {
			continue
		}
		f.UsesLua = true
		if _, found, _ := unstructured.NestedFieldNoCopy(m, "patch", "value", "config"); found {
			f.OldLuaSyntax = true
		}
		if pv, _, _ := unstructured.NestedString(m, "match", "proxy", "proxyVersion"); pv == "" {
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

// permissions asks the API server, with SelfSubjectAccessReviews, whether
// the caller may do everything apply will do. Each verb is checked
// cluster-wide first; only a verb denied cluster-wide is checked in the
// namespaces the plan touches, where a RoleBinding may grant it.
func (p *Provider) permissions(ctx context.Context, cfg *config.Config, snap *plan.Snapshot) ([]plan.Permission, error) {
	var out []plan.Permission
	for _, n := range p.permissionNeeds(cfg, snap) {
		ok, err := p.canI(ctx, n.verb, n.group, n.resource, "")
		if err != nil {
			return nil, err
		}
		if ok {
			continue
		}
		if len(n.namespaces) == 0 {
			out = append(out, plan.Permission{Verb: n.verb, Group: n.group, Resource: n.resource})
			continue
		}
		for _, ns := range n.namespaces {
			ok, err := p.canI(ctx, n.verb, n.group, n.resource, ns)
			if err != nil {
				return nil, err
			}
			if !ok {
				out = append(out, plan.Permission{Verb: n.verb, Group: n.group, Resource: n.resource, Namespace: ns})
			}
		}
	}
	return out, nil
}

// permissionNeed is a verb apply needs on a resource: cluster-wide, or else
// in each of namespaces.
type permissionNeed struct {
	verb, group, resource string
	namespaces            []string
}

// permissionNeeds are the verbs apply of cfg needs.
func (p *Provider) permissionNeeds(cfg *config.Config, snap *plan.Snapshot) []permissionNeed {
	waveNS := explicitNamespaces(cfg)
	var gwNS []string
	for _, g := range cfg.Gateways {
		gwNS = append(gwNS, g.Namespace)
	}
	needs := []permissionNeed{
		{"patch", "", "namespaces", nil},
		{"patch", "apps", "deployments", waveNS},
		{"patch", "apps", "statefulsets", waveNS},
		{"patch", "apps", "daemonsets", waveNS},
		{"watch", "apps", "deployments", waveNS},
	}
	if len(cfg.Gateways) > 0 {
		if p.flavor == plan.FlavorIstio {
			needs = append(needs, permissionNeed{"patch", "apps", "deployments", gwNS})
		} else {
			needs = append(needs, permissionNeed{"patch", gvrMeshGateway.Group, gvrMeshGateway.Resource, gwNS})
		}
	}
	if len(cfg.Tags) > 0 {
		needs = append(needs,
			permissionNeed{"update", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", nil},
			permissionNeed{"update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", nil},
			permissionNeed{"patch", "", "services", nil})
	}
	if cfg.Finalize.UninstallOld {
		needs = append(needs, p.uninstallNeeds(cfg, snap)...)
	}
	return needs
}

// uninstallNeeds are the deletes the uninstall makes: the installing
// resource, and for upstream Istio each kind of object the revision is made
// of.
func (p *Provider) uninstallNeeds(cfg *config.Config, snap *plan.Snapshot) []permissionNeed {
	kinds := map[string]bool{}
	for _, cp := range snap.ControlPlanes {
		if cp.Revision != cfg.Upgrade.From && !(cfg.Upgrade.From == config.DefaultRevision && cp.Default) {
			continue
		}
		kinds[cp.Kind] = true
		for _, o := range cp.Objects {
			kinds[o.Kind] = true
		}
	}
	if p.flavor != plan.FlavorIstio {
		kinds = map[string]bool{"Istio": true}
	}
	var needs []permissionNeed
	for _, k := range installedKinds {
		if kinds[k.kind] {
			needs = append(needs, permissionNeed{"delete", k.gvr.Group, k.gvr.Resource, nil})
		}
	}
	for kind, gvr := range map[string]schema.GroupVersionResource{"Istio": gvrIstio, "IstioOperator": gvrIstioOperator} {
		if kinds[kind] {
			needs = append(needs, permissionNeed{"delete", gvr.Group, gvr.Resource, nil})
		}
	}
	return needs
}

func (p *Provider) canI(ctx context.Context, verb, group, resource, ns string) (bool, error) {
	r, err := p.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Group: group, Resource: resource, Namespace: ns}},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("check permission to %s %s: %w", verb, resource, err)
	}
	return r.Status.Allowed, nil
}

// explicitNamespaces lists the namespaces waves name; selector matches are
// covered by the cluster-wide check.
func explicitNamespaces(cfg *config.Config) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range cfg.Waves {
		for _, n := range w.Namespaces {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}
