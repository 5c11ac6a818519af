package apply_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
)

// This file's name sorts after every other test file of the package, so its
// test runs last: it applies the Backyards example to its end, which
// uninstalls the source control plane every other test upgrades from (the
// package shares one cluster and one simulated mesh).

// The example plan, applied to the guide's starting point, ends as the
// guide's final listing, and a plan afterwards has no changes.
func TestApplyBackyardsExampleEndsAsTheGuide(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer health.Close()
	dir := harness.CopyExample(t, "backyards-1.6-to-1.7")
	vars := []string{"-var", "health_url=" + health.URL, "-var", "canary_soak=2s"}

	apps := [][2]string{{"demo-a", "app-a"}, {"demo-b", "app-b"}}
	before := map[string]int{}
	for _, d := range apps {
		before[d[1]] = harness.ReplicaSets(ctx, t, env, d[0], d[1])
	}

	r := harness.Meshwave(t, env, dir, append([]string{"apply", "-auto-approve", "-approve", "canary"}, vars...)...)
	if r.Code != 0 {
		t.Fatalf("apply exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"demo-a/app-a: restart complete", "Apply complete!"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.Stdout)
		}
	}
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", 5*time.Second, harness.AllOn(img17, rev17))
	harness.WaitPods(ctx, t, env, "demo-b", "app=app-b", 5*time.Second, harness.AllOn(img17, rev17))
	harness.WaitPods(ctx, t, env, "istio-system", "app=istio-ingressgateway", 5*time.Second, harness.AllOn(img17, rev17))
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(ctx, "mesh", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Istio istio-system/mesh: err = %v, want NotFound", err)
	}
	if pods := harness.Pods(ctx, t, env, "istio-system", "app=istiod,istio.io/rev="+rev16); len(pods) != 0 {
		t.Errorf("old istiod pods remain: %+v", pods)
	}
	for _, d := range apps {
		if n := harness.ReplicaSets(ctx, t, env, d[0], d[1]); n != before[d[1]]+1 {
			t.Errorf("%s/%s has %d ReplicaSets, want %d (restarted exactly once)", d[0], d[1], n, before[d[1]]+1)
		}
	}

	r = harness.Meshwave(t, env, dir, append([]string{"plan", "-detailed-exitcode"}, vars...)...)
	if r.Code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0 (no changes)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "No changes.") {
		t.Errorf("plan after apply does not say No changes:\n%s", r.Stdout)
	}
}
