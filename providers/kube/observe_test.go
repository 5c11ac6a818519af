package kube

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

func owned(kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
}

// ownerRefs is owned by a kind of the API group version apiVersion.
func ownerRefs(apiVersion, kind, name string) []metav1.OwnerReference {
	refs := owned(kind, name)
	refs[0].APIVersion = apiVersion
	return refs
}

func pod(ns, name string, owners []metav1.OwnerReference, labels map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "istio-proxy", Image: "proxyv2:1.6.3"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// Pods are grouped under the workload a restart acts on, and workloads a
// restart cannot move say why.
func TestWorkloadsOf(t *testing.T) {
	pods := []corev1.Pod{
		pod("a", "web-1", owned("ReplicaSet", "web-5d4"), nil),
		pod("a", "frozen-1", owned("ReplicaSet", "frozen-7f"), nil),
		pod("a", "db-0", owned("StatefulSet", "db"), nil),
		pod("a", "cache-0", owned("StatefulSet", "cache"), nil),
		pod("a", "agent-x", owned("DaemonSet", "agent"), nil),
		pod("a", "logs-x", owned("DaemonSet", "logs"), nil),
		pod("a", "migrate-1", owned("Job", "migrate"), nil),
		pod("a", "debug", nil, nil),
		pod("a", "plain-1", owned("ReplicaSet", "plain-1a"), map[string]string{"sidecar.istio.io/inject": "false"}),
	}
	done := pod("a", "old-1", owned("Job", "old"), nil)
	done.Status.Phase = corev1.PodSucceeded
	evicted := pod("a", "web-0", owned("ReplicaSet", "web-5d4"), nil)
	evicted.Status.Phase = corev1.PodFailed
	pods = append(pods, done, evicted,
		// The pod template decides, not the pod: opted out by the
		// template's annotation since the pod was created, and opted in
		// again since the pod was created with the label.
		pod("a", "quiet-1", owned("ReplicaSet", "quiet-1a"), nil),
		pod("a", "back-1", owned("ReplicaSet", "back-1a"), map[string]string{"sidecar.istio.io/inject": "false"}),
		// The top of the owner chain: Argo Rollouts (read or not), a
		// Knative Revision that owns a Deployment, a custom resource that
		// owns its pods or its ReplicaSet.
		pod("a", "checkout-1", ownerRefs("apps/v1", "ReplicaSet", "checkout-6b"), map[string]string{"app": "pod-label"}),
		pod("a", "held-1", ownerRefs("apps/v1", "ReplicaSet", "held-6b"), nil),
		pod("a", "byref-1", ownerRefs("apps/v1", "ReplicaSet", "byref-6b"), nil),
		pod("a", "unread-1", ownerRefs("apps/v1", "ReplicaSet", "unread-6b"), nil),
		pod("a", "hello-1", ownerRefs("apps/v1", "ReplicaSet", "hello-00001-deployment-5f"), map[string]string{"app": "hello"}),
		pod("a", "kr-1", ownerRefs("apps.kruise.io/v1alpha1", "CloneSet", "kr"), nil),
		pod("a", "op-1", ownerRefs("apps/v1", "ReplicaSet", "op-1a"), nil))
	rss := []appsv1.ReplicaSet{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-5d4", OwnerReferences: owned("Deployment", "web")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "frozen-7f", OwnerReferences: owned("Deployment", "frozen")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "plain-1a", OwnerReferences: owned("Deployment", "plain")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "quiet-1a", OwnerReferences: owned("Deployment", "quiet")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "back-1a", OwnerReferences: owned("Deployment", "back")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "checkout-6b", OwnerReferences: ownerRefs("argoproj.io/v1alpha1", "Rollout", "checkout")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "held-6b", OwnerReferences: ownerRefs("argoproj.io/v1alpha1", "Rollout", "held")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "byref-6b", OwnerReferences: ownerRefs("argoproj.io/v1alpha1", "Rollout", "byref")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "unread-6b", OwnerReferences: ownerRefs("argoproj.io/v1alpha1", "Rollout", "unread")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "hello-00001-deployment-5f", OwnerReferences: ownerRefs("apps/v1", "Deployment", "hello-00001-deployment")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "op-1a", OwnerReferences: ownerRefs("example.com/v1", "Database", "orders")}},
	}
	deps := []appsv1.Deployment{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web"}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "istio.io/rev": "1-31"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "frozen"}, Spec: appsv1.DeploymentSpec{Paused: true}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "quiet"}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"sidecar.istio.io/inject": "false"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "back"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "hello-00001-deployment", OwnerReferences: ownerRefs("serving.knative.dev/v1", "Revision", "hello-00001")},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "template"}}}}},
	}
	rollouts := []unstructured.Unstructured{
		argoRolloutObject("a", "checkout", map[string]any{"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "checkout"}}}}, nil),
		argoRolloutObject("a", "held", map[string]any{"paused": true}, nil),
		argoRolloutObject("a", "byref", map[string]any{"workloadRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "byref"}}, nil),
	}
	stss := []appsv1.StatefulSet{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "db"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "cache"}, Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}},
	}
	dss := []appsv1.DaemonSet{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "logs"}, Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}},
	}
	type row struct {
		Kind        plan.WorkloadKind
		Name        string
		NotRollable string
		Template    map[string]string
		OptedOut    bool
		Pods        int
	}
	var got []row
	o := &clusterObjects{pods: pods, replicaSets: rss, deployments: deps, statefulSets: stss, daemonSets: dss,
		crs: map[schema.GroupVersionResource][]unstructured.Unstructured{gvrRollout: rollouts}}
	for _, w := range workloadsOf(o) {
		reason, _ := plan.NotRollable(w.Rollout())
		got = append(got, row{w.Kind, w.Name, reason, w.TemplateLabels, plan.InjectionOptedOut(w.TemplateLabels, w.TemplateAnnotations), len(w.Pods)})
	}
	// The template's labels and annotations where meshwave reads the
	// controller (web's, quiet's and back's, not their pods'), else the
	// pod's (plain: its Deployment was not read).
	want := []row{
		{"CloneSet", "kr", "owned by CloneSet.apps.kruise.io kr, which meshwave does not restart", nil, false, 1},
		{plan.KindDaemonSet, "agent", "", nil, false, 1},
		{plan.KindDaemonSet, "logs", "DaemonSet uses the OnDelete update strategy", nil, false, 1},
		{"Database", "orders", "owned by Database.example.com orders, which meshwave does not restart", nil, false, 1},
		{plan.KindDeployment, "back", "", nil, false, 1},
		{plan.KindDeployment, "frozen", "Deployment is paused", nil, false, 1},
		{plan.KindDeployment, "plain", "", map[string]string{"sidecar.istio.io/inject": "false"}, true, 1},
		{plan.KindDeployment, "quiet", "", nil, true, 1},
		{plan.KindDeployment, "web", "", map[string]string{"app": "web", "istio.io/rev": "1-31"}, false, 1},
		{plan.KindJob, "migrate", "a Job's pods run to completion and are not restarted", nil, false, 1},
		{plan.KindBarePod, "debug", "bare pod without a controller", nil, false, 1},
		{"Revision", "hello-00001", "owned by Revision.serving.knative.dev hello-00001, which meshwave does not restart", map[string]string{"app": "hello"}, false, 1},
		{plan.KindRollout, "byref", "Rollout takes its pod template from Deployment byref (spec.workloadRef)", nil, false, 1},
		{plan.KindRollout, "checkout", "", map[string]string{"app": "checkout"}, false, 1},
		{plan.KindRollout, "held", "Rollout is paused", nil, false, 1},
		{plan.KindRollout, "unread", "", nil, false, 1},
		{plan.KindStatefulSet, "cache", "StatefulSet uses the OnDelete update strategy", nil, false, 1},
		{plan.KindStatefulSet, "db", "", nil, false, 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
}

func TestEnvoyFilterOf(t *testing.T) {
	filter := func(patches ...any) unstructured.Unstructured {
		return unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": "f", "namespace": "n"},
			"spec":     map[string]any{"configPatches": patches},
		}}
	}
	oldLua := map[string]any{"patch": map[string]any{"value": map[string]any{"name": "envoy.lua", "config": map[string]any{"inlineCode": "x"}}}}
	oldLuaMatched := map[string]any{"match": map[string]any{"proxy": map[string]any{"proxyVersion": `^1\.6.*`}},
		"patch": map[string]any{"value": map[string]any{"name": "envoy.lua", "config": map[string]any{"inlineCode": "x"}}}}
	newLua := map[string]any{"patch": map[string]any{"value": map[string]any{"name": "envoy.filters.http.lua", "typed_config": map[string]any{"inlineCode": "x"}}}}
	other := map[string]any{"patch": map[string]any{"value": map[string]any{"name": "envoy.filters.http.cors"}}}
	tests := map[string]struct {
		f    unstructured.Unstructured
		want plan.EnvoyFilter
	}{
		"old lua":                {filter(oldLua), plan.EnvoyFilter{Namespace: "n", Name: "f", UsesLua: true, OldLuaSyntax: true}},
		"old lua, version match": {filter(oldLuaMatched), plan.EnvoyFilter{Namespace: "n", Name: "f", UsesLua: true, OldLuaSyntax: true, ProxyVersionMatch: true}},
		"one of two unmatched":   {filter(oldLuaMatched, oldLua), plan.EnvoyFilter{Namespace: "n", Name: "f", UsesLua: true, OldLuaSyntax: true}},
		"new lua":                {filter(newLua), plan.EnvoyFilter{Namespace: "n", Name: "f", UsesLua: true}},
		"no lua":                 {filter(other), plan.EnvoyFilter{Namespace: "n", Name: "f"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, envoyFilterOf(tc.f)); diff != "" {
				t.Errorf("envoyFilterOf (-want +got):\n%s", diff)
			}
		})
	}
}

// A finished pod (an evicted istiod, a failed gateway pod) is no part of
// the snapshot: it neither makes a control plane look not Ready nor counts
// as a user of its revision.
func TestFinishedPodsAreLeftOut(t *testing.T) {
	o := fixtureObjects()
	evicted := o.pods[0] // pilot-0, istiod of 1-30
	evicted.Name, evicted.Status.Phase, evicted.Status.Conditions = "pilot-evicted", corev1.PodFailed, nil
	job := injectedPod("shop", "migrate-x", "1-30", "docker.io/istio/proxyv2:1.30.0", owned("Job", "migrate"), nil)
	job.Status.Phase = corev1.PodSucceeded
	o.pods = append(o.pods, evicted, job)
	snap := snapshotOf(upstreamIstio{}, &config.Config{}, o)
	for _, cp := range snap.ControlPlanes {
		if cp.Revision == "1-30" && (!cp.Ready() || len(cp.Istiod) != 1) {
			t.Errorf("1-30 istiod pods %+v: the evicted pod counts", cp.Istiod)
		}
	}
	for _, w := range snap.Workloads {
		if w.Name == "migrate" {
			t.Errorf("the Job of a Succeeded pod is in the snapshot: %+v", w)
		}
	}
	var old plan.ControlPlane
	for _, cp := range snap.ControlPlanes {
		if cp.Revision == "1-30" {
			old = cp
		}
	}
	for _, u := range plan.RevisionUsers(snap, old, plan.Move{}) {
		if strings.Contains(u, "migrate") {
			t.Errorf("RevisionUsers names the Succeeded pod: %q", u)
		}
	}
}

// A native sidecar (istio-proxy among the init containers, restartPolicy
// Always) is the pod's proxy; an init container of that name that runs to
// completion is not.
func TestPodFactsNativeSidecar(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	native := pod("a", "web-1", nil, nil)
	native.Spec.Containers = []corev1.Container{{Name: "app"}}
	native.Spec.InitContainers = []corev1.Container{{Name: "istio-init", Image: "proxyv2:1.27.1"}, {Name: "istio-proxy", Image: "proxyv2:1.27.1", RestartPolicy: &always}}
	if got := podFacts(&native).ProxyImage; got != "proxyv2:1.27.1" {
		t.Errorf("native sidecar: proxy image %q, want proxyv2:1.27.1", got)
	}
	plain := native
	plain.Spec.InitContainers = []corev1.Container{{Name: "istio-proxy", Image: "proxyv2:1.27.1"}}
	if got := podFacts(&plain).ProxyImage; got != "" {
		t.Errorf("init container without restartPolicy Always: proxy image %q, want none", got)
	}
}

// The pod template's proxy pins are read from the controller's template.
func TestWorkloadsOfProxyPins(t *testing.T) {
	pods := []corev1.Pod{pod("a", "web-1", owned("ReplicaSet", "web-5d4"), nil)}
	rss := []appsv1.ReplicaSet{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-5d4", OwnerReferences: owned("Deployment", "web")}}}
	deps := []appsv1.Deployment{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web"}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{plan.AnnotationProxyImage: "proxyv2:1.26.3", plan.AnnotationInjectTemplates: "sidecar, team-x"}}}}}}
	w := workloadsOf(&clusterObjects{pods: pods, replicaSets: rss, deployments: deps})[0]
	if w.ProxyImagePin != "proxyv2:1.26.3" {
		t.Errorf("ProxyImagePin = %q", w.ProxyImagePin)
	}
	if diff := cmp.Diff([]string{"sidecar", "team-x"}, w.InjectTemplates); diff != "" {
		t.Errorf("InjectTemplates (-want +got):\n%s", diff)
	}
}

func TestInjectorTemplates(t *testing.T) {
	cfg := "defaultTemplates: [sidecar]\npolicy: enabled\ntemplates:\n  sidecar: |\n    spec: {}\n  gateway: |\n    spec: {}\n  grpc-agent: |\n    spec: {}\n"
	if diff := cmp.Diff([]string{"gateway", "grpc-agent", "sidecar"}, injectorTemplates(cfg)); diff != "" {
		t.Errorf("templates (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "{not yaml", "policy: enabled\n"} {
		if got := injectorTemplates(bad); got != nil {
			t.Errorf("injectorTemplates(%q) = %v, want nil (unknown)", bad, got)
		}
	}
}

// istio-cni's node agent and ztunnel are found in any namespace.
func TestSharedProxies(t *testing.T) {
	o := fixtureObjects()
	o.daemonSets = []appsv1.DaemonSet{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "istio-cni-node"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "ztunnel"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "log-agent"}},
	}
	snap := snapshotOf(upstreamIstio{}, &config.Config{}, o)
	want := []plan.ObjectRef{{Kind: "DaemonSet", Namespace: "kube-system", Name: "istio-cni-node"}, {Kind: "DaemonSet", Namespace: "istio-system", Name: "ztunnel"}}
	if diff := cmp.Diff(want, snap.SharedProxies); diff != "" {
		t.Errorf("shared proxies (-want +got):\n%s", diff)
	}
}
