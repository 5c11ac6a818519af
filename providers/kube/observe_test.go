package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshwave/meshwave/plan"
)

func owned(kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
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
	pods = append(pods, done)
	rss := []appsv1.ReplicaSet{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-5d4", OwnerReferences: owned("Deployment", "web")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "frozen-7f", OwnerReferences: owned("Deployment", "frozen")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "plain-1a", OwnerReferences: owned("Deployment", "plain")}},
	}
	deps := []appsv1.Deployment{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web"}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "istio.io/rev": "1-31"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "frozen"}, Spec: appsv1.DeploymentSpec{Paused: true}},
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
		Pods        int
	}
	var got []row
	for _, w := range workloadsOf(pods, rss, deps, stss, dss) {
		reason, _ := plan.NotRollable(w.Rollout())
		got = append(got, row{w.Kind, w.Name, reason, w.TemplateLabels, len(w.Pods)})
	}
	// The template's labels where meshwave reads the controller (web's,
	// not its pod's), else the pod's (plain: its Deployment was not read).
	want := []row{
		{plan.KindDaemonSet, "agent", "", nil, 1},
		{plan.KindDaemonSet, "logs", "DaemonSet uses the OnDelete update strategy", nil, 1},
		{plan.KindDeployment, "frozen", "Deployment is paused", nil, 1},
		{plan.KindDeployment, "plain", "", map[string]string{"sidecar.istio.io/inject": "false"}, 1},
		{plan.KindDeployment, "web", "", map[string]string{"app": "web", "istio.io/rev": "1-31"}, 1},
		{plan.KindJob, "migrate", "a Job's pods run to completion and are not restarted", nil, 1},
		{plan.KindBarePod, "debug", "bare pod without a controller", nil, 1},
		{plan.KindStatefulSet, "cache", "StatefulSet uses the OnDelete update strategy", nil, 1},
		{plan.KindStatefulSet, "db", "", nil, 1},
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
