package apply_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/testenv"
)

const evictPlan = `
upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "stateful" {
  namespaces     = ["stateful"]
  roll_on_delete = true
  timeout        = "45s"
}
`

// An OnDelete StatefulSet is rolled by evicting its pods one at a time
// through the Eviction API: while its PodDisruptionBudget allows no
// disruption, the wave waits and fails at its timeout naming the budget,
// with no pod deleted; once the budget allows one, the next apply rolls
// every pod onto the target proxy.
func TestOnDeleteStatefulSetRolledByEvictionHonouringItsPDB(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	cs := env.Client
	harness.Namespace(ctx, t, env, "stateful", map[string]string{"istio-injection": "enabled"})
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Namespaces().Delete(context.Background(), "stateful", metav1.DeleteOptions{})
	})
	three := int32(3)
	labels := map[string]string{"app": "cache"}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: "stateful"},
		Spec: appsv1.StatefulSetSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: labels}, ServiceName: "cache",
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "docker.io/library/redis:7"}}}}}}
	if _, err := cs.AppsV1().StatefulSets("stateful").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	all := intstr.FromInt32(3)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "cache-pdb", Namespace: "stateful"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &all, Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	if _, err := cs.PolicyV1().PodDisruptionBudgets("stateful").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	harness.WaitPods(ctx, t, env, "stateful", "app=cache", time.Minute, func(p []harness.PodFacts) bool {
		return len(p) == 3 && harness.AllOn(img16, rev16)(p)
	})
	uids := podUIDs(ctx, t, env)

	dir := writePlan(t, evictPlan)
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	out := r.Stdout + r.Stderr
	if r.Code != 1 || !strings.Contains(out, "blocked by PodDisruptionBudget stateful/cache-pdb") {
		t.Fatalf("apply with a budget that allows no disruption: exit %d, want 1 naming PodDisruptionBudget stateful/cache-pdb\n%s", r.Code, out)
	}
	if got := podUIDs(ctx, t, env); !maps.Equal(got, uids) {
		t.Errorf("pods %v after the blocked apply, want them untouched %v", got, uids)
	}

	if _, err := cs.PolicyV1().PodDisruptionBudgets("stateful").Patch(ctx, "cache-pdb", types.MergePatchType,
		[]byte(`{"spec":{"minAvailable":2}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	r = harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("apply once the budget allows one disruption: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	harness.WaitPods(ctx, t, env, "stateful", "app=cache", 10*time.Second, func(p []harness.PodFacts) bool {
		return len(p) == 3 && harness.AllOn(img17, rev17)(p)
	})
	got := podUIDs(ctx, t, env)
	for name, uid := range uids {
		if got[name] == uid {
			t.Errorf("pod %s was not replaced", name)
		}
	}
}

// podUIDs are the uids of namespace stateful's cache pods, by name: a pod
// re-created after an eviction keeps its name and gets a new uid.
func podUIDs(ctx context.Context, t *testing.T, env *testenv.Cluster) map[string]string {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods("stateful").List(ctx, metav1.ListOptions{LabelSelector: "app=cache"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = string(p.UID)
	}
	return out
}
