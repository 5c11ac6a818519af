package kube

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshwave/meshwave/plan"
)

func TestUninstallStep(t *testing.T) {
	const rev = "cp-v1.istio-system"
	step := plan.Step{ID: "finalize/uninstall", Kind: plan.StepUninstall,
		Object: &plan.ObjectRef{Kind: "Istio", Namespace: "istio-system", Name: "cp-v1"}, FromRevision: rev, TimeoutSecond: 1}
	istio := func() []runtime.Object {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "istio.banzaicloud.io/v1beta1", "kind": "Istio",
			"metadata": map[string]any{"namespace": "istio-system", "name": "cp-v1", "uid": "uid-1"},
			"spec":     map[string]any{"version": "1.1.0"}}}
		return objs(u)
	}
	istiod := proxyPod("istio-system", "istiod-cp-v1-1", "istiod", "", rev, true)
	user := proxyPod("shop", "web-1", "web", "proxyv2:1.1", rev, true)
	del := "delete istios istio-system/cp-v1"
	tests := map[string]stepCase{
		"prepare records the uid":                 {op: "prepare", custom: istio(), wantRecord: plan.Record{"uid": "uid-1"}},
		"prepare of a control plane that is gone": {op: "prepare", wantRecord: plan.Record{"uid": ""}},
		"prepare on a failing read": {op: "prepare", custom: istio(),
			fail:    []failure{{verb: "get", resource: "istios", times: -1, err: forbidden("istios", "cp-v1")}},
			wantErr: "read Istio istio-system/cp-v1: "},
		"run deletes the control plane and waits for istiod to go": {op: "run", custom: istio(), wantWrites: []string{del}},
		"run sends the delete again after a conflict": {op: "run", custom: istio(),
			fail:       []failure{{verb: "delete", resource: "istios", times: 1, err: conflict("istios", "cp-v1")}},
			wantWrites: []string{del, del}},
		"run again finds it gone: done":       {op: "run", custom: istio(), twice: true, wantWrites: []string{del, del}},
		"run of a control plane that is gone": {op: "run", wantWrites: []string{del}},
		"run refuses while a pod still uses the revision": {op: "run", custom: istio(), objects: objs(user),
			wantErr: "refusing to uninstall " + rev + ": still used by pod shop/web-1"},
		"run on a failing read": {op: "run", custom: istio(),
			fail:    []failure{{verb: "list", resource: "namespaces", times: -1, err: forbidden("namespaces", "")}},
			wantErr: "re-check the users of " + rev + ": list namespaces: "},
		"run whose istiod does not go": {op: "run", custom: istio(), objects: objs(istiod),
			wantErr: "istiod of " + rev + " still running after deleting Istio istio-system/cp-v1", wantWrites: []string{del}},
		"verify of a control plane that is gone": {op: "verify"},
		"verify of one still there":              {op: "verify", custom: istio(), wantErr: "Istio istio-system/cp-v1 still exists"},
		"verify on a failing read": {op: "verify", custom: istio(),
			fail:    []failure{{verb: "get", resource: "istios", times: -1, err: forbidden("istios", "cp-v1")}},
			wantErr: "read Istio istio-system/cp-v1: "},
		"rollback cannot reinstall": {op: "rollback", wantErr: "Istio istio-system/cp-v1 was uninstalled; reinstall it to roll back"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { tc.run(t, plan.FlavorBackyards, step) })
	}
}
