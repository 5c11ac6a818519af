package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshwave/meshwave/plan"
)

func TestWaveWaitStep(t *testing.T) {
	step := plan.Step{ID: "wave/canary/wait", Kind: plan.StepWaveWait,
		Workloads: []plan.ObjectRef{{Kind: "Deployment", Namespace: "shop", Name: "web"}}, TimeoutSecond: 1}
	rolling := readyDeployment("shop", "web", nil)
	rolling.Status.UpdatedReplicas = 0
	failed := readyDeployment("shop", "web", nil)
	failed.Status.Conditions[1].Status, failed.Status.Conditions[1].Reason = corev1.ConditionFalse, "ProgressDeadlineExceeded"
	tests := map[string]struct {
		stepCase
		watched *appsv1.Deployment // the workload as the wait watches it
	}{
		"prepare records nothing":          {stepCase: stepCase{op: "prepare", wantRecord: plan.Record{}}},
		"run waits for a finished rollout": {stepCase: stepCase{op: "run", twice: true}, watched: readyDeployment("shop", "web", nil)},
		"run of a rollout that does not finish": {stepCase: stepCase{op: "run",
			wantErr: "rollout of Deployment shop/web not finished within 1s"}, watched: rolling},
		"run of a rollout whose end the watch missed": {stepCase: stepCase{op: "run",
			missed: &missed{resource: "deployments", names: []string{"web"}, was: objs(withVersion(rolling, "7"))},
			wantProgress: []string{"shop/web: updated: 0/1", "shop/web: the API server shows what the watch did not (resourceVersion 8)",
				"shop/web: deployment is available. replicas: 1"}},
			watched: withVersion(readyDeployment("shop", "web", nil), "8")},
		"run of a failed rollout": {stepCase: stepCase{op: "run",
			wantErr: "rollout of Deployment shop/web failed"}, watched: failed},
		"run of a workload that is gone": {stepCase: stepCase{op: "run",
			wantErr: `rollout of Deployment shop/web: the Deployment is gone: deployment.apps "web" not found`}},
		"run whose rollout cannot be read": {stepCase: stepCase{op: "run",
			fail:    []failure{{verb: "list", resource: "deployments", times: -1, err: forbidden("deployments", "")}},
			wantErr: "rollout of Deployment shop/web not finished within 1s: list the cluster's workloads, pods and pod-creation failures: failed to list *v1.Deployment: deployments is forbidden"}, watched: readyDeployment("shop", "web", nil)},
		"verify has nothing to check":              {stepCase: stepCase{op: "verify"}},
		"rollback waits for the rollback restarts": {stepCase: stepCase{op: "rollback"}, watched: readyDeployment("shop", "web", nil)},
		"rollback of a rollout that does not finish": {stepCase: stepCase{op: "rollback",
			wantErr: "rollout of Deployment shop/web not finished within 1s"}, watched: rolling},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.watched != nil {
				tc.objects = objs(tc.watched)
			}
			tc.run(t, plan.FlavorBackyards, step)
		})
	}
}

// withVersion is d at resourceVersion rv.
func withVersion(d *appsv1.Deployment, rv string) *appsv1.Deployment {
	d = d.DeepCopy()
	d.ResourceVersion = rv
	return d
}

func TestWaveVerifyStep(t *testing.T) {
	step := plan.Step{ID: "wave/canary/verify", Kind: plan.StepWaveVerify,
		Workloads:    []plan.ObjectRef{{Kind: "Deployment", Namespace: "shop", Name: "web"}},
		FromRevision: "cp-v1.istio-system", ToRevision: "cp-v2.istio-system", FromImage: "proxyv2:1.1", ToImage: "proxyv2:1.2", TimeoutSecond: 1}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-5d4", OwnerReferences: owned("Deployment", "web")}}
	web := func(image, rev string, ready bool) []runtime.Object {
		return objs(rs, proxyPod("shop", "web-1", "web", image, rev, ready, owned("ReplicaSet", "web-5d4")...))
	}
	tests := map[string]stepCase{
		"prepare records nothing":   {op: "prepare", wantRecord: plan.Record{}},
		"run of pods on the target": {op: "run", objects: web("proxyv2:1.2", "cp-v2.istio-system", true), twice: true},
		"run of pods on the old proxy": {op: "run", objects: web("proxyv2:1.1", "cp-v1.istio-system", true),
			wantErr: `verify: pod shop/web-1 runs proxy "proxyv2:1.1", want "proxyv2:1.2"`},
		"run of a pod injected by another revision": {op: "run", objects: web("proxyv2:1.2", "cp-v1.istio-system", true),
			wantErr: `verify: pod shop/web-1 has istio.io/rev="cp-v1.istio-system", want "cp-v2.istio-system"`},
		"run of a pod not Ready": {op: "run", objects: web("proxyv2:1.2", "cp-v2.istio-system", false),
			wantErr: "verify: pod shop/web-1 is not Ready"},
		"run of a workload that is gone": {op: "run", wantErr: "verify: Deployment shop/web has no running pods",
			wantProgress: []string{"0/0 pods run 1.2"}},
		"run of a pod not Ready says none of one runs": {op: "run", objects: web("proxyv2:1.2", "cp-v2.istio-system", false),
			wantErr: "verify: pod shop/web-1 is not Ready", wantProgress: []string{"0/1 pods run 1.2"}},
		"run whose pod the watch missed reads it from the API server": {op: "run", objects: web("proxyv2:1.2", "cp-v2.istio-system", true),
			missed: &missed{resource: "pods", names: []string{"web-1"}}, wantProgress: []string{"0/0 pods run 1.2",
				"shop: the API server shows what the watch did not (1/1 pods as wanted, not 0/0)"}},
		"run on a failing read": {op: "run", objects: web("proxyv2:1.2", "cp-v2.istio-system", true),
			fail:    []failure{{verb: "list", resource: "pods", times: -1, err: forbidden("pods", "")}},
			wantErr: "verify: list the cluster's workloads, pods and pod-creation failures: failed to list *v1.Pod: pods is forbidden"},
		"verify of pods on the target": {op: "verify", objects: web("proxyv2:1.2", "cp-v2.istio-system", true)},
		"verify of pods on the old proxy": {op: "verify", objects: web("proxyv2:1.1", "cp-v1.istio-system", true),
			wantErr: `pod shop/web-1 runs proxy "proxyv2:1.1", want "proxyv2:1.2"`},
		"verify on a failing read": {op: "verify", objects: web("proxyv2:1.2", "cp-v2.istio-system", true),
			fail:    []failure{{verb: "list", resource: "replicasets", times: -1, err: forbidden("replicasets", "")}},
			wantErr: "verify: list the cluster's workloads, pods and pod-creation failures: failed to list *v1.PartialObjectMetadata: replicasets is forbidden"},
		"rollback of pods back on the source proxy": {op: "rollback", objects: web("proxyv2:1.1", "cp-v1.istio-system", true)},
		"rollback of pods still on the target": {op: "rollback", objects: web("proxyv2:1.2", "cp-v2.istio-system", true),
			wantErr: `verify: pod shop/web-1 runs proxy "proxyv2:1.2", want "proxyv2:1.1"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { tc.run(t, plan.FlavorBackyards, step) })
	}
}
