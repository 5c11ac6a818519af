package meshsim

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshwave/meshwave/test/testenv"
)

// A workload's PodAnnotations reach its pod template, so a scenario can
// choose how long its pods take to start.
func TestWorkloadPodAnnotations(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	s := &Sim{kube: cs}
	delay := map[string]string{testenv.AnnotationStartDelay: "3s", testenv.AnnotationStartDelayMax: "3s"}
	if err := s.createWorkload(ctx, "shop", Workload{Name: "web", Replicas: 2, PodAnnotations: delay}); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(delay, d.Spec.Template.Annotations); diff != "" {
		t.Errorf("pod template annotations (-want +got):\n%s", diff)
	}
	if got := *d.Spec.Replicas; got != 2 {
		t.Errorf("replicas = %d, want 2", got)
	}
}
