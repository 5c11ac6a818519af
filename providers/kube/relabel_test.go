package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshwave/meshwave/plan"
)

func TestRelabelStep(t *testing.T) {
	step := plan.Step{ID: "wave/canary/relabel/shop", Kind: plan.StepNamespaceRelabel,
		Object:    &plan.ObjectRef{Kind: "Namespace", Name: "shop"},
		SetLabels: map[string]string{plan.LabelRevision: "cp-v2.istio-system"}, RemoveLabels: []string{plan.LabelInjection},
		SourceLabels: map[string]string{plan.LabelInjection: "enabled"}}
	before := map[string]string{plan.LabelInjection: "enabled", "team": "web"}
	after := map[string]string{plan.LabelRevision: "cp-v2.istio-system", "team": "web"}
	rec := plan.Record{"labels": `{"istio-injection":"enabled"}`}
	patch := "patch namespaces shop"
	tests := map[string]struct {
		stepCase
		wantLabels map[string]string // the namespace's labels after the call
	}{
		"prepare records the istio labels": {stepCase: stepCase{op: "prepare", objects: objs(namespace("shop", before)),
			wantRecord: rec}, wantLabels: before},
		"prepare refuses labels moved since the plan": {stepCase: stepCase{op: "prepare",
			objects: objs(namespace("shop", map[string]string{plan.LabelRevision: "other"})),
			wantErr: "namespace shop was relabeled since the plan"}},
		"prepare of a namespace that is gone": {stepCase: stepCase{op: "prepare", wantErr: `read namespace shop: namespaces "shop" not found`}},
		"prepare on a failing read": {stepCase: stepCase{op: "prepare", objects: objs(namespace("shop", before)),
			fail: []failure{{verb: "get", resource: "namespaces", times: -1, err: forbidden("namespaces", "shop")}}, wantErr: "read namespace shop: "}},
		"run sends one patch": {stepCase: stepCase{op: "run", rec: rec, objects: objs(namespace("shop", before)),
			wantWrites: []string{patch}}, wantLabels: after},
		"run reads again after a conflict": {stepCase: stepCase{op: "run", rec: rec, objects: objs(namespace("shop", before)),
			fail:       []failure{{verb: "patch", resource: "namespaces", times: 1, err: conflict("namespaces", "shop")}},
			wantWrites: []string{patch, patch}}, wantLabels: after},
		"run again sends nothing new": {stepCase: stepCase{op: "run", rec: rec, objects: objs(namespace("shop", before)), twice: true,
			wantWrites: []string{patch}}, wantLabels: after},
		"run of a namespace already relabeled sends nothing": {stepCase: stepCase{op: "run", rec: rec,
			objects: objs(namespace("shop", after))}, wantLabels: after},
		"run of a namespace that is gone": {stepCase: stepCase{op: "run", rec: rec, wantErr: `read namespace shop: namespaces "shop" not found`}},
		"run on a failing read": {stepCase: stepCase{op: "run", rec: rec, objects: objs(namespace("shop", before)),
			fail: []failure{{verb: "get", resource: "namespaces", times: -1, err: forbidden("namespaces", "shop")}}, wantErr: "read namespace shop: "}},
		"verify of a relabeled namespace": {stepCase: stepCase{op: "verify", rec: rec, objects: objs(namespace("shop", after))}},
		"verify sees the old label back": {stepCase: stepCase{op: "verify", rec: rec, objects: objs(namespace("shop", before)),
			wantErr: "namespace shop: label istio.io/rev is \"\", want \"cp-v2.istio-system\""}},
		"verify of a namespace that is gone": {stepCase: stepCase{op: "verify", rec: rec, wantErr: `read namespace shop: namespaces "shop" not found`}},
		"verify on a failing read": {stepCase: stepCase{op: "verify", rec: rec, objects: objs(namespace("shop", after)),
			fail: []failure{{verb: "get", resource: "namespaces", times: -1, err: forbidden("namespaces", "shop")}}, wantErr: "read namespace shop: "}},
		"rollback restores the recorded labels": {stepCase: stepCase{op: "rollback", rec: rec, objects: objs(namespace("shop", after)),
			wantWrites: []string{patch}}, wantLabels: before},
		"rollback sends again after a conflict": {stepCase: stepCase{op: "rollback", rec: rec, objects: objs(namespace("shop", after)),
			fail:       []failure{{verb: "patch", resource: "namespaces", times: 1, err: conflict("namespaces", "shop")}},
			wantWrites: []string{patch, patch}}, wantLabels: before},
		"rollback again changes nothing more": {stepCase: stepCase{op: "rollback", rec: rec, objects: objs(namespace("shop", after)), twice: true,
			wantWrites: []string{patch, patch}}, wantLabels: before},
		"rollback of a namespace that is gone": {stepCase: stepCase{op: "rollback", rec: rec,
			wantErr: `relabel namespace shop: namespaces "shop" not found`, wantWrites: []string{patch}}},
		"rollback with an unreadable record": {stepCase: stepCase{op: "rollback", rec: plan.Record{"labels": "{"}, objects: objs(namespace("shop", after)),
			wantErr: "namespace shop: recorded labels are unreadable"}, wantLabels: after},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.run(t, plan.FlavorBackyards, step)
			if tc.wantLabels == nil {
				return
			}
			ns, err := c.cs.CoreV1().Namespaces().Get(t.Context(), "shop", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.wantLabels, ns.Labels); d != "" {
				t.Errorf("labels (-want +got):\n%s", d)
			}
		})
	}
}

func objs(o ...runtime.Object) []runtime.Object { return o }
