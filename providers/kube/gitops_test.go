package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// Observe keeps of each object's managedFields only its managers' names,
// and the snapshot says who manages a namespace and a gateway.
func TestObserveReadsGitOpsManagement(t *testing.T) {
	fields := func(managers ...string) []metav1.ManagedFieldsEntry {
		var out []metav1.ManagedFieldsEntry
		for _, m := range managers {
			out = append(out, metav1.ManagedFieldsEntry{Manager: m, Operation: metav1.ManagedFieldsOperationApply,
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:istio-injection":{}}}}`)}})
		}
		return out
	}
	shop := namespace("shop", map[string]string{plan.LabelInjection: "enabled", plan.LabelAppInstance: "shop"})
	shop.ManagedFields = fields("argocd-application-controller", "kubectl", "argocd-application-controller")
	apps := namespace("apps", map[string]string{plan.LabelFluxKustomizationName: "apps", plan.LabelFluxKustomizationNamespace: "flux-system"})
	web := proxyPod("shop", "web-1", "web", "proxyv2:1.6.3", "mesh.istio-system", true)
	web.ManagedFields = fields("kube-controller-manager", "kubelet")
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvrMeshGateway.GroupVersion().String(), "kind": "MeshGateway",
		"metadata": map[string]any{"name": "ingress", "namespace": "istio-system",
			"managedFields": []any{map[string]any{"manager": "helm-controller", "operation": "Apply"}}},
		"spec": map[string]any{"istioControlPlane": map[string]any{"name": "mesh", "namespace": "istio-system"}},
	}}
	c := newCluster(t, []runtime.Object{shop, apps, web}, []runtime.Object{gw})
	p := c.provider(t, plan.FlavorBackyards)
	objs, err := p.fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range objs.pods {
		if diff := cmp.Diff([]metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}, {Manager: "kubelet"}}, pod.ManagedFields); diff != "" {
			t.Errorf("pod %s managedFields kept (-want +got):\n%s", pod.Name, diff)
		}
	}
	snap := snapshotOf(backyards{}, &config.Config{}, objs)
	got := map[string]plan.Management{}
	for _, ns := range snap.Namespaces {
		got["Namespace/"+ns.Name] = ns.Management
	}
	for _, g := range snap.Gateways {
		got["MeshGateway/"+g.Name] = g.Management
	}
	want := map[string]plan.Management{
		"Namespace/shop":      {Marks: map[string]string{plan.LabelAppInstance: "shop"}, Managers: []string{"argocd-application-controller", "kubectl"}},
		"Namespace/apps":      {Marks: map[string]string{plan.LabelFluxKustomizationName: "apps", plan.LabelFluxKustomizationNamespace: "flux-system"}},
		"MeshGateway/ingress": {Managers: []string{"helm-controller"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("management (-want +got):\n%s", diff)
	}
	owner, _ := plan.GitOpsOf(want["Namespace/shop"])
	if owner.String() != "Argo CD (Application shop)" {
		t.Errorf("shop is managed by %q", owner)
	}
}
