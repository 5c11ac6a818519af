package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// meshGateway is a Backyards MeshGateway on control plane cp.
func meshGateway(ns, name, cp string) *unstructured.Unstructured {
	cpName, cpNS, _ := config.ParseBackyardsRevision(cp)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "istio.banzaicloud.io/v1beta1", "kind": "MeshGateway",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"istioControlPlane": map[string]any{"name": cpName, "namespace": cpNS}},
	}}
}

func TestBackyardsGatewayStep(t *testing.T) {
	const from, to = "cp-v1.istio-system", "cp-v2.istio-system"
	step := plan.Step{ID: "gateway/istio-system/ingress", Kind: plan.StepGatewayMigrate,
		Object:       &plan.ObjectRef{Kind: "MeshGateway", Namespace: "istio-system", Name: "ingress"},
		FromRevision: from, ToRevision: to, FromImage: "proxyv2:1.1", ToImage: "proxyv2:1.2", TimeoutSecond: 1}
	rec := plan.Record{"controlPlane": from}
	pods := func(image string, ready bool) []runtime.Object {
		return objs(proxyPod("istio-system", "ingress-1", "ingress", image, "", ready))
	}
	patch := "patch meshgateways istio-system/ingress"
	tests := map[string]struct {
		stepCase
		gateway   *unstructured.Unstructured
		wantOnRev string // the MeshGateway's control plane after the call
	}{
		"prepare records the control plane": {stepCase: stepCase{op: "prepare", wantRecord: rec}, gateway: meshGateway("istio-system", "ingress", from)},
		"prepare of a gateway that is gone": {stepCase: stepCase{op: "prepare", wantErr: "read MeshGateway istio-system/ingress: "}},
		"prepare on a failing read": {stepCase: stepCase{op: "prepare", fail: []failure{{verb: "get", resource: "meshgateways", times: -1, err: forbidden("meshgateways", "ingress")}},
			wantErr: "read MeshGateway istio-system/ingress: "}, gateway: meshGateway("istio-system", "ingress", from)},
		"run moves the gateway and waits for its pods": {stepCase: stepCase{op: "run", rec: rec, objects: pods("proxyv2:1.2", true),
			wantWrites: []string{patch}}, gateway: meshGateway("istio-system", "ingress", from), wantOnRev: to},
		"run reads from the API server the pod the watch missed": {stepCase: stepCase{op: "run", rec: rec, objects: pods("proxyv2:1.2", true),
			missed: &missed{resource: "pods", names: []string{"ingress-1"}}, wantWrites: []string{patch},
			wantProgress: []string{"0/0 gateway pods Ready on 1.2", "the API server shows what the watch did not (1/1 gateway pods Ready on 1.2)"}},
			gateway: meshGateway("istio-system", "ingress", from), wantOnRev: to},
		"run sends again after a conflict": {stepCase: stepCase{op: "run", rec: rec, objects: pods("proxyv2:1.2", true),
			fail:       []failure{{verb: "patch", resource: "meshgateways", times: 1, err: conflict("meshgateways", "ingress")}},
			wantWrites: []string{patch, patch}}, gateway: meshGateway("istio-system", "ingress", from), wantOnRev: to},
		"run again sends the same move": {stepCase: stepCase{op: "run", rec: rec, objects: pods("proxyv2:1.2", true), twice: true,
			wantWrites: []string{patch, patch}}, gateway: meshGateway("istio-system", "ingress", to), wantOnRev: to},
		"run of a gateway that is gone": {stepCase: stepCase{op: "run", rec: rec,
			wantErr: "move MeshGateway istio-system/ingress to " + to, wantWrites: []string{patch}}},
		"run whose pods do not roll over": {stepCase: stepCase{op: "run", rec: rec, objects: pods("proxyv2:1.1", true),
			wantErr:    "gateway istio-system/ingress did not roll over to proxyv2:1.2 within 1s: 0/1 gateway pods Ready on 1.2",
			wantWrites: []string{patch}}, gateway: meshGateway("istio-system", "ingress", from), wantOnRev: to},
		"run whose pods cannot be read": {stepCase: stepCase{op: "run", rec: rec, objects: pods("proxyv2:1.2", true),
			fail:       []failure{{verb: "list", resource: "pods", times: -1, err: forbidden("pods", "")}},
			wantErr:    "gateway istio-system/ingress: list the cluster's workloads, pods and pod-creation failures: failed to list *v1.Pod: pods is forbidden",
			wantWrites: []string{patch}}, gateway: meshGateway("istio-system", "ingress", from), wantOnRev: to},
		"verify of a moved gateway": {stepCase: stepCase{op: "verify", rec: rec}, gateway: meshGateway("istio-system", "ingress", to)},
		"verify sees it moved back": {stepCase: stepCase{op: "verify", rec: rec,
			wantErr: "gateway istio-system/ingress runs on " + from + ", want " + to}, gateway: meshGateway("istio-system", "ingress", from)},
		"verify of a gateway that is gone": {stepCase: stepCase{op: "verify", rec: rec, wantErr: "read MeshGateway istio-system/ingress: "}},
		"verify on a failing read": {stepCase: stepCase{op: "verify", rec: rec, fail: []failure{{verb: "get", resource: "meshgateways", times: -1, err: forbidden("meshgateways", "ingress")}},
			wantErr: "read MeshGateway istio-system/ingress: "}, gateway: meshGateway("istio-system", "ingress", to)},
		"rollback moves it back to the recorded control plane": {stepCase: stepCase{op: "rollback", rec: rec, objects: pods("proxyv2:1.1", true),
			wantWrites: []string{patch}}, gateway: meshGateway("istio-system", "ingress", to), wantOnRev: from},
		"rollback sends again after a conflict": {stepCase: stepCase{op: "rollback", rec: rec, objects: pods("proxyv2:1.1", true),
			fail:       []failure{{verb: "patch", resource: "meshgateways", times: 1, err: conflict("meshgateways", "ingress")}},
			wantWrites: []string{patch, patch}}, gateway: meshGateway("istio-system", "ingress", to), wantOnRev: from},
		"rollback of a gateway that is gone": {stepCase: stepCase{op: "rollback", rec: rec,
			wantErr: "move MeshGateway istio-system/ingress to " + from, wantWrites: []string{patch}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.gateway != nil {
				tc.custom = objs(tc.gateway)
			}
			c := tc.run(t, plan.FlavorBackyards, step)
			if tc.wantOnRev == "" {
				return
			}
			u, err := c.dyn.Resource(gvrMeshGateway).Namespace("istio-system").Get(t.Context(), "ingress", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.wantOnRev, meshGatewayRevision(u)); d != "" {
				t.Errorf("control plane (-want +got):\n%s", d)
			}
		})
	}
}

func TestIstioGatewayStep(t *testing.T) {
	step := plan.Step{ID: "gateway/istio-system/ingress", Kind: plan.StepGatewayMigrate,
		Object:       &plan.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "ingress"},
		FromRevision: "1-30", ToRevision: "1-31", FromImage: "proxyv2:1.30.0", ToImage: "proxyv2:1.31.0", TimeoutSecond: 1}
	rec := plan.Record{"controlPlane": "1-30"}
	gateway := func(rev string) *appsv1.Deployment {
		d := readyDeployment("istio-system", "ingress", nil)
		d.Spec.Template.Labels[plan.LabelRevision] = rev
		return d
	}
	pod := func(image string) runtime.Object {
		return proxyPod("istio-system", "ingress-1", "ingress", image, "", true)
	}
	// An evicted pod of the old proxy stays in the namespace, finished:
	// it never runs again, so the wait does not count it (plan.PodFinished).
	evicted := proxyPod("istio-system", "ingress-0", "ingress", "proxyv2:1.30.0", "", false)
	evicted.Status.Phase = corev1.PodFailed
	patch := "patch deployments istio-system/ingress"
	tests := map[string]struct {
		stepCase
		wantOnRev string
	}{
		"run leaves a finished pod out": {stepCase: stepCase{op: "run", rec: rec, objects: objs(gateway("1-30"), pod("proxyv2:1.31.0"), evicted),
			wantWrites: []string{patch}}, wantOnRev: "1-31"},
		"prepare records the revision":      {stepCase: stepCase{op: "prepare", objects: objs(gateway("1-30")), wantRecord: rec}},
		"prepare of a gateway that is gone": {stepCase: stepCase{op: "prepare", wantErr: "read gateway istio-system/ingress: "}},
		"prepare on a failing read": {stepCase: stepCase{op: "prepare", objects: objs(gateway("1-30")),
			fail: []failure{{verb: "get", resource: "deployments", times: -1, err: forbidden("deployments", "ingress")}}, wantErr: "read gateway istio-system/ingress: "}},
		"run relabels the pod template and waits": {stepCase: stepCase{op: "run", rec: rec, objects: objs(gateway("1-30"), pod("proxyv2:1.31.0")),
			wantWrites: []string{patch}}, wantOnRev: "1-31"},
		"run sends again after a conflict": {stepCase: stepCase{op: "run", rec: rec, objects: objs(gateway("1-30"), pod("proxyv2:1.31.0")),
			fail:       []failure{{verb: "patch", resource: "deployments", times: 1, err: conflict("deployments", "ingress")}},
			wantWrites: []string{patch, patch}}, wantOnRev: "1-31"},
		"run again sends the same move": {stepCase: stepCase{op: "run", rec: rec, objects: objs(gateway("1-31"), pod("proxyv2:1.31.0")), twice: true,
			wantWrites: []string{patch, patch}}, wantOnRev: "1-31"},
		"run of a gateway that is gone": {stepCase: stepCase{op: "run", rec: rec,
			wantErr: "move gateway istio-system/ingress to 1-31: ", wantWrites: []string{patch}}},
		"verify of a moved gateway": {stepCase: stepCase{op: "verify", rec: rec, objects: objs(gateway("1-31"))}},
		"verify sees it moved back": {stepCase: stepCase{op: "verify", rec: rec, objects: objs(gateway("1-30")),
			wantErr: "gateway istio-system/ingress runs on 1-30, want 1-31"}},
		"verify on a failing read": {stepCase: stepCase{op: "verify", rec: rec, objects: objs(gateway("1-31")),
			fail: []failure{{verb: "get", resource: "deployments", times: -1, err: forbidden("deployments", "ingress")}}, wantErr: "read gateway istio-system/ingress: "}},
		"rollback moves it back": {stepCase: stepCase{op: "rollback", rec: rec, objects: objs(gateway("1-31"), pod("proxyv2:1.30.0")),
			wantWrites: []string{patch}}, wantOnRev: "1-30"},
		"rollback of a gateway that is gone": {stepCase: stepCase{op: "rollback", rec: rec,
			wantErr: "move gateway istio-system/ingress to 1-30: ", wantWrites: []string{patch}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.run(t, plan.FlavorIstio, step)
			if tc.wantOnRev == "" {
				return
			}
			d, err := c.cs.AppsV1().Deployments("istio-system").Get(t.Context(), "ingress", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantOnRev, d.Spec.Template.Labels[plan.LabelRevision]); diff != "" {
				t.Errorf("revision (-want +got):\n%s", diff)
			}
		})
	}
}
