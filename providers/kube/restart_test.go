package kube

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshwave/meshwave/plan"
)

func TestRestartStep(t *testing.T) {
	step := plan.Step{ID: "wave/canary/restart/shop/deployment/web", Kind: plan.StepWorkloadRestart,
		Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "web"}, ToImage: "proxyv2:1.2", TimeoutSecond: 1}
	const at = "2026-12-01T10:00:00Z"
	rec := plan.Record{"restartedAt": at}
	// web is the workload, as the typed client reads and patches it and
	// the rollout wait watches it.
	web := func(anno map[string]string) []runtime.Object { return objs(readyDeployment("shop", "web", anno)) }
	restarted := map[string]string{annoRestartedAt: at}
	paused := readyDeployment("shop", "web", nil)
	paused.Spec.Paused = true
	patch := "patch deployments shop/web"
	probe := "dry-run create pods shop/"
	tests := map[string]struct {
		stepCase
		wantAnnotation map[string]string // the pod template's after the call
	}{
		"prepare proves injection with a dry-run pod and records the restartedAt value": {stepCase: stepCase{op: "prepare", objects: web(nil),
			injector: "proxyv2:1.2", wantRecord: rec, wantWrites: []string{probe}}},
		"prepare stops when no injector selects the pods": {stepCase: stepCase{op: "prepare", objects: web(nil), wantWrites: []string{probe},
			wantErr: "a dry-run pod of Deployment shop/web got no istio-proxy container: no injection webhook selects it"}},
		"prepare stops when another revision would inject them": {stepCase: stepCase{op: "prepare", objects: web(nil), wantWrites: []string{probe},
			injector: "proxyv2:1.1", wantErr: `a dry-run pod of Deployment shop/web got proxy proxyv2:1.1 from revision "", want proxyv2:1.2`}},
		"prepare stops at once when a webhook refuses the pod": {stepCase: stepCase{op: "prepare", objects: web(nil), wantWrites: []string{probe},
			fail: []failure{{verb: "create", resource: "pods", times: -1, err: apierrors.NewInternalError(errors.New(
				`failed calling webhook "rev.object.sidecar-injector.istio.io": connection refused`))}},
			wantErr: `the API server refused a dry-run pod of Deployment shop/web, so would refuse its new pods; nothing was restarted: Internal error occurred: failed calling webhook "rev.object.sidecar-injector.istio.io": connection refused`}},
		"prepare refuses a workload paused since the plan": {stepCase: stepCase{op: "prepare", objects: objs(paused),
			wantErr: "Deployment shop/web cannot be rolled by a restart any more"}},
		"prepare of a workload that is gone": {stepCase: stepCase{op: "prepare", wantErr: `read Deployment shop/web: deployments.apps "web" not found`}},
		"prepare reads the workload from the watch cache, not with a GET": {stepCase: stepCase{op: "prepare", objects: web(nil),
			injector: "proxyv2:1.2", wantRecord: rec, wantWrites: []string{probe},
			fail: []failure{{verb: "get", resource: "deployments", times: -1, err: forbidden("deployments", "web")}}}},
		"prepare on a failing read": {stepCase: stepCase{op: "prepare", objects: web(nil),
			fail: []failure{{verb: "list", resource: "deployments", times: -1, err: forbidden("deployments", "")},
				{verb: "get", resource: "deployments", times: -1, err: forbidden("deployments", "web")}}, wantErr: "read Deployment shop/web: "}},
		"run patches restartedAt and waits for the rollout": {stepCase: stepCase{op: "run", rec: rec, objects: web(nil),
			wantWrites: []string{patch}}, wantAnnotation: restarted},
		"run sends again after a conflict": {stepCase: stepCase{op: "run", rec: rec, objects: web(nil),
			fail:       []failure{{verb: "patch", resource: "deployments", times: 1, err: conflict("deployments", "web")}},
			wantWrites: []string{patch, patch}}, wantAnnotation: restarted},
		"run again re-sends the same value: no second rollout": {stepCase: stepCase{op: "run", rec: rec, objects: web(nil), twice: true,
			wantWrites: []string{patch, patch}}, wantAnnotation: restarted},
		"run of a workload that is gone": {stepCase: stepCase{op: "run", rec: rec,
			wantErr: `restart Deployment shop/web: deployments.apps "web" not found`, wantWrites: []string{patch}}},
		"run on a failing write": {stepCase: stepCase{op: "run", rec: rec, objects: web(nil),
			fail:    []failure{{verb: "patch", resource: "deployments", times: -1, err: forbidden("deployments", "web")}},
			wantErr: "restart Deployment shop/web: ", wantWrites: []string{patch}}},
		"run whose rollout cannot be read times out naming it": {stepCase: stepCase{op: "run", rec: rec, objects: web(nil),
			fail:    []failure{{verb: "list", resource: "deployments", times: -1, err: forbidden("deployments", "web")}},
			wantErr: "rollout of Deployment shop/web not finished within 1s", wantWrites: []string{patch}}},
		"run without a recorded value": {stepCase: stepCase{op: "run", objects: web(nil),
			wantErr: "restart shop/web: no recorded restartedAt value"}},
		"verify of a restarted workload": {stepCase: stepCase{op: "verify", rec: rec, objects: web(restarted)}},
		"verify sees another restart": {stepCase: stepCase{op: "verify", rec: rec, objects: web(map[string]string{annoRestartedAt: "later"}),
			wantErr: `Deployment shop/web: restartedAt is "later", want "` + at + `"`}},
		"verify of a workload that is gone": {stepCase: stepCase{op: "verify", rec: rec, wantErr: "read Deployment shop/web: "}},
		"verify on a failing read": {stepCase: stepCase{op: "verify", rec: rec, objects: web(restarted),
			fail: []failure{{verb: "get", resource: "deployments", times: -1, err: forbidden("deployments", "web")}}, wantErr: "read Deployment shop/web: "}},
		"rollback restarts with the rollback's recorded time": {stepCase: stepCase{op: "rollback",
			rec: plan.Record{"restartedAt": at, plan.RecordRollbackAt: "2026-12-01T11:00:00Z"}, objects: web(restarted),
			wantWrites: []string{patch}}, wantAnnotation: map[string]string{annoRestartedAt: "2026-12-01T11:00:00Z"}},
		"rollback without one derives its value": {stepCase: stepCase{op: "rollback", rec: rec, objects: web(restarted), twice: true,
			wantWrites: []string{patch, patch}}, wantAnnotation: map[string]string{annoRestartedAt: at + "+rollback"}},
		"rollback sends again after a conflict": {stepCase: stepCase{op: "rollback", rec: rec, objects: web(restarted),
			fail:       []failure{{verb: "patch", resource: "deployments", times: 1, err: conflict("deployments", "web")}},
			wantWrites: []string{patch, patch}}, wantAnnotation: map[string]string{annoRestartedAt: at + "+rollback"}},
		"rollback of a workload that is gone": {stepCase: stepCase{op: "rollback", rec: rec,
			wantErr: `restart Deployment shop/web: deployments.apps "web" not found`, wantWrites: []string{patch}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.run(t, plan.FlavorBackyards, step)
			if tc.wantAnnotation == nil {
				return
			}
			d, err := c.cs.AppsV1().Deployments("shop").Get(t.Context(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantAnnotation, d.Spec.Template.Annotations); diff != "" {
				t.Errorf("pod template annotations (-want +got):\n%s", diff)
			}
		})
	}
}

// A relabel a GitOps controller set back is named with the controller that
// wrote the labels last, read from the namespace's managed fields.
func TestProbeNamesWhoSetTheLabelsBack(t *testing.T) {
	step := plan.Step{ID: "wave/canary/restart/shop/deployment/web", Kind: plan.StepWorkloadRestart,
		Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "web"}, ToImage: "proxyv2:1.2", TimeoutSecond: 1}
	ns := namespace("shop", map[string]string{plan.LabelInjection: "enabled"})
	at := metav1.NewTime(time.Date(2026, 12, 1, 9, 59, 0, 0, time.UTC))
	ns.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: fieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: at.Add(-time.Minute)},
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:istio.io/rev":{}}}}`)}},
		{Manager: "argocd-application-controller", Operation: metav1.ManagedFieldsOperationUpdate, Time: &at,
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:istio-injection":{}}}}`)}},
	}
	stepCase{op: "prepare", objects: objs(ns, readyDeployment("shop", "web", nil)), injector: "proxyv2:1.1",
		wantWrites: []string{"dry-run create pods shop/"},
		wantErr:    `(namespace shop's injection labels, now "istio-injection=enabled", were last written by argocd-application-controller at 2026-12-01T09:59:00Z, not by meshwave: its relabel was set back`,
	}.run(t, plan.FlavorBackyards, step)
}
