package apply_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/testenv"
)

// A GitOps controller sets a relabeled namespace back while its restart is
// rolling, and the apply is killed: the next apply says who wrote the labels
// (from the namespace's managed fields), not only that they changed,
// relabels it again and restarts the workload anew (re-sending the killed
// restart's restartedAt would roll nothing, and leave the pods created
// after the set-back on the old proxy), and finishes.
func TestRelabelSetBackByGitOpsIsNamed(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	dir := writePlan(t, canaryPlan)
	// A restart reports progress only once its PATCH is answered: the
	// rollout has begun.
	killed, code, log := harness.ApplyKilledWhen(t, env, dir, func(ev harness.Event) bool {
		return ev.Type == "step-progress" && strings.HasPrefix(ev.Step, "wave/canary/restart/demo-a/")
	})
	if killed == nil {
		t.Fatalf("apply ended (exit %d) before the first restart's rollout\nevents: %s", code, strings.Join(log, "; "))
	}
	first := restartedAt(ctx, t, env, "demo-a", "app-a")
	if first == "" {
		t.Fatalf("the killed apply's restart reported progress, but deployment demo-a/app-a has no restartedAt")
	}
	// What Argo CD's self-heal does: the labels git holds, written by its
	// own field manager.
	patch := `{"metadata":{"labels":{"istio-injection":"enabled","istio.io/rev":null}}}`
	if _, err := env.Client.CoreV1().Namespaces().Patch(ctx, "demo-a", types.MergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: "argocd-application-controller"}); err != nil {
		t.Fatal(err)
	}
	r := harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("apply after the set-back: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	out := r.Stdout + r.Stderr
	if !strings.Contains(out, "were last written by argocd-application-controller") || !strings.Contains(out, "its relabel was set back") {
		t.Errorf("the apply does not name who set the relabel back:\n%s", out)
	}
	if !strings.Contains(out, "namespace demo-a's relabel was set back after this step began") {
		t.Errorf("the apply does not say why the killed restart runs anew:\n%s", out)
	}
	if again := restartedAt(ctx, t, env, "demo-a", "app-a"); again == first {
		t.Errorf("demo-a/app-a still has the killed apply's restartedAt %q: it was not restarted anew", first)
	}
	want := map[string]string{"istio-injection": "", "istio.io/rev": rev17}
	if got := namespaceLabels(ctx, t, env, "demo-a"); !equal(got, want) {
		t.Errorf("demo-a labels = %v, want %v (relabeled again)", got, want)
	}
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", time.Minute, harness.AllOn(img17, rev17))

	// The package's other tests start from demo-a on 1.6.
	if r := harness.Meshwave(t, env, dir, "rollback", "-auto-approve"); r.Code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", time.Minute, harness.AllOn(img16, rev16))
}

// restartedAt is a Deployment's pod template restartedAt annotation.
func restartedAt(ctx context.Context, t *testing.T, env *testenv.Cluster, ns, name string) string {
	t.Helper()
	d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
}
