package kube

import (
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
)

// installedKinds are the kinds an installed revision is made of, in the order
// an uninstall deletes them: the webhooks first, so nothing calls an istiod
// that is going away, then the namespaced objects, then cluster RBAC. They
// are the kinds `istioctl uninstall --revision` prunes, Pods aside: a
// revision's pods belong to its Deployments and go with them.
var installedKinds = []struct {
	gvr  schema.GroupVersionResource
	kind string
}{
	{schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}, "MutatingWebhookConfiguration"},
	{schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}, "ValidatingWebhookConfiguration"},
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "Deployment"},
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}, "DaemonSet"},
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "Service"},
	{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "ConfigMap"},
	{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "Secret"},
	{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, "ServiceAccount"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, "RoleBinding"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, "Role"},
	{schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}, "PodDisruptionBudget"},
	{schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, "HorizontalPodAutoscaler"},
	{gvrEnvoyFilter, "EnvoyFilter"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, "ClusterRoleBinding"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, "ClusterRole"},
}

// sortInstalled puts objects in installedKinds order, then by namespace and
// name.
func sortInstalled(objs []plan.InstalledObject) {
	rank := map[string]int{}
	for i, k := range installedKinds {
		rank[k.kind] = i
	}
	sort.Slice(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if rank[a.Kind] != rank[b.Kind] {
			return rank[a.Kind] < rank[b.Kind]
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

func kindOf(gvr schema.GroupVersionResource) string {
	for _, k := range installedKinds {
		if k.gvr == gvr {
			return k.kind
		}
	}
	return gvr.Resource
}

func gvrOf(kind string) (schema.GroupVersionResource, bool) {
	for _, k := range installedKinds {
		if k.kind == kind {
			return k.gvr, true
		}
	}
	return schema.GroupVersionResource{}, false
}

// gvrForKind is the resource of a control plane's installing object or of
// an object it is made of.
func gvrForKind(kind string) schema.GroupVersionResource {
	switch kind {
	case "Istio":
		return gvrIstio
	case "IstioOperator":
		return gvrIstioOperator
	}
	gvr, _ := gvrOf(kind) // unknown: the empty resource, which deleteObject refuses
	return gvr
}
