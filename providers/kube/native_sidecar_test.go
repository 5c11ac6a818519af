package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan"
)

// A wave's verify reads a native sidecar's image like a container's.
func TestWaveVerifyNativeSidecar(t *testing.T) {
	step := plan.Step{ID: "wave/canary/verify", Kind: plan.StepWaveVerify,
		Workloads:    []plan.ObjectRef{{Kind: "Deployment", Namespace: "shop", Name: "web"}},
		FromRevision: "cp-v1.istio-system", ToRevision: "cp-v2.istio-system", FromImage: "proxyv2:1.1", ToImage: "proxyv2:1.2", TimeoutSecond: 1}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-5d4", OwnerReferences: owned("Deployment", "web")}}
	native := func(image string) *corev1.Pod {
		always := corev1.ContainerRestartPolicyAlways
		p := proxyPod("shop", "web-1", "web", image, "cp-v2.istio-system", true, owned("ReplicaSet", "web-5d4")...)
		p.Spec.InitContainers = []corev1.Container{{Name: proxyContainer, Image: image, RestartPolicy: &always}}
		p.Spec.Containers = []corev1.Container{{Name: "app"}}
		return p
	}
	tests := map[string]stepCase{
		"native sidecar on the target": {op: "run", objects: objs(rs, native("proxyv2:1.2"))},
		"native sidecar on the old proxy": {op: "run", objects: objs(rs, native("proxyv2:1.1")),
			wantErr: `verify: pod shop/web-1 runs proxy "proxyv2:1.1", want "proxyv2:1.2"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { tc.run(t, plan.FlavorBackyards, step) })
	}
}
