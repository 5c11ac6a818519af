package apply_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshwave/meshwave/test/e2e/harness"
)

// A GitOps controller sets a relabeled namespace back between two applies:
// the next apply says who wrote the labels (from the namespace's managed
// fields), not only that they changed, relabels it again and finishes.
func TestRelabelSetBackByGitOpsIsNamed(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	dir := writePlan(t, canaryPlan)
	killed, code, log := harness.ApplyKilledWhen(t, env, dir, func(ev harness.Event) bool {
		return ev.Type == "step-start" && strings.HasPrefix(ev.Step, "wave/canary/restart/")
	})
	if killed == nil {
		t.Fatalf("apply ended (exit %d) before the first restart\nevents: %s", code, strings.Join(log, "; "))
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
