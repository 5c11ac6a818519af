package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The watch cache keeps of a pod what podFacts reads, and of a ReplicaSet
// (watched as metadata) its metadata, without managed fields.
func TestSlimKeepsWhatWaitsRead(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	meta := metav1.ObjectMeta{Name: "app-1", Namespace: "ns", Labels: map[string]string{"istio.io/rev": "1-27"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}}
	pod := &corev1.Pod{ObjectMeta: meta,
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: "app:1", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}},
				{Name: proxyContainer, Image: "proxyv2:1.27", Args: []string{"proxy", "sidecar"}},
			},
			InitContainers: []corev1.Container{{Name: "istio-validation", Image: "proxyv2:1.27"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	native := pod.DeepCopy()
	native.Spec.Containers = native.Spec.Containers[:1]
	native.Spec.InitContainers = []corev1.Container{{Name: proxyContainer, Image: "proxyv2:1.28", RestartPolicy: &always}}

	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{{"sidecar", pod, "proxyv2:1.27"}, {"native sidecar", native, "proxyv2:1.28"}} {
		t.Run(tc.name, func(t *testing.T) {
			before := podFacts(tc.pod)
			got, err := slim(tc.pod.DeepCopy())
			if err != nil {
				t.Fatal(err)
			}
			slimmed := got.(*corev1.Pod)
			if after := podFacts(slimmed); after != before || after.ProxyImage != tc.want || !after.Ready {
				t.Errorf("podFacts of the cached pod = %+v; of the pod %+v (want proxy %s, Ready)", after, before, tc.want)
			}
			if n := len(slimmed.Spec.Containers) + len(slimmed.Spec.InitContainers); n != 1 {
				t.Errorf("cached pod keeps %d containers; want the proxy only", n)
			}
			if slimmed.ManagedFields != nil || slimmed.Status.PodIP != "" {
				t.Errorf("cached pod keeps managed fields or status beyond readiness: %+v", slimmed)
			}
		})
	}

	// A ReplicaSet arrives as metadata only (its watch is a metadata
	// watch) and is kept as the typed ReplicaSet the cache's lister reads.
	rs := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}, ObjectMeta: *meta.DeepCopy()}
	rs.Annotations = map[string]string{revisionAnnotation["Deployment"]: "3"}
	rs.OwnerReferences = []metav1.OwnerReference{{Kind: "Deployment", Name: "app", Controller: new(true)}}
	got, err := slim(rs)
	if err != nil {
		t.Fatal(err)
	}
	cached, ok := got.(*appsv1.ReplicaSet)
	if !ok {
		t.Fatalf("cached ReplicaSet is a %T, want *appsv1.ReplicaSet", got)
	}
	if cached.ManagedFields != nil {
		t.Errorf("cached ReplicaSet keeps its managed fields: %+v", cached.ManagedFields)
	}
	if ref := metav1.GetControllerOf(cached); ref == nil || ref.Name != "app" || cached.Annotations[revisionAnnotation["Deployment"]] != "3" {
		t.Errorf("cached ReplicaSet lost its owner or revision: %+v", cached.ObjectMeta)
	}
}
