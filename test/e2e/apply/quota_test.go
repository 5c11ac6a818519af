package apply_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/meshwave/meshwave/test/e2e/harness"
)

// A ResourceQuota that leaves no room for a rollout's new pod: the wave
// stops within seconds of its relabel, quoting the API server's refusal
// that names the quota, instead of waiting out its five minutes; nothing
// is restarted, and the automatic rollback puts the namespace back.
func TestQuotaThatBlocksNewPodsStopsTheWave(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	pods, err := env.Client.CoreV1().Pods("demo-a").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-room", Namespace: "demo-a"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(len(pods.Items)), resource.DecimalSI)}}}
	if _, err := env.Client.CoreV1().ResourceQuotas("demo-a").Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.CoreV1().ResourceQuotas("demo-a").Delete(context.Background(), "no-room", metav1.DeleteOptions{})
	})
	// The quota admits nothing more once its usage is counted. The count is
	// written here, as the quota controller would: that controller counted
	// nothing within a minute in one run of this suite, and the behaviour
	// under test is the API server's admission refusing the new pod, which
	// reads only this status. The controller may write it at the same
	// time: a conflict reads the quota again.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		q, err := env.Client.CoreV1().ResourceQuotas("demo-a").Get(ctx, "no-room", metav1.GetOptions{})
		if err != nil {
			return err
		}
		q.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: quota.Spec.Hard}
		_, err = env.Client.CoreV1().ResourceQuotas("demo-a").UpdateStatus(ctx, q, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		q, err := env.Client.CoreV1().ResourceQuotas("demo-a").Get(ctx, "no-room", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		used := q.Status.Used[corev1.ResourcePods]
		return used.Value() == int64(len(pods.Items)), nil
	})
	if err != nil {
		t.Fatalf("quota no-room never counted demo-a's %d pods: %v", len(pods.Items), err)
	}
	before := harness.ReplicaSets(ctx, t, env, "demo-a", "app-a")

	dir := writePlan(t, strings.Replace(canaryPlan, `timeout    = "25s"`, `timeout    = "5m"`, 1))
	start := time.Now()
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	took := time.Since(start)
	t.Logf("apply with no room in the quota: exit %d after %s", r.Code, took.Round(100*time.Millisecond))
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if took > time.Minute {
		t.Errorf("apply took %s, want it to stop within 1m0s", took)
	}
	out := r.Stdout + r.Stderr
	if !strings.Contains(out, "exceeded quota: no-room") {
		t.Errorf("the output does not quote the API server's refusal naming the quota:\n%s", out)
	}
	if got := harness.ReplicaSets(ctx, t, env, "demo-a", "app-a"); got != before {
		t.Errorf("demo-a/app-a has %d ReplicaSets, had %d: it was restarted", got, before)
	}
	want := map[string]string{"istio-injection": "enabled", "istio.io/rev": ""}
	if got := namespaceLabels(ctx, t, env, "demo-a"); !equal(got, want) {
		t.Errorf("demo-a labels = %v, want %v (rolled back)", got, want)
	}
}
