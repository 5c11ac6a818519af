// Package backyards_test generates the plan of the Backyards guide's
// upgrade (meshsim's backyards-1.6-to-1.7) from the live cluster and applies
// it to its end.
package backyards_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/test/e2e/generate"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
)

const (
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
	rev16 = "mesh.istio-system"
	rev17 = "cp-v17x.istio-system"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// The generated plan moves the gateway, demo-a alone as the canary, then
// demo-b, and uninstalls mesh: applied, it ends as the guide does.
func TestGeneratedBackyardsPlanAppliesToTheEnd(t *testing.T) {
	env, _ := harness.Backyards(t)
	ctx := context.Background()
	dir, src := generate.Generate(t, env, "--from", rev16, "--to", rev17)
	generate.Contains(t, src,
		`  flavor = "backyards"`,
		`gateway "istio-ingressgateway" {`,
		`wave "canary" {`,
		`  namespaces = ["demo-a"]`,
		`wave "wave-1" {`,
		`  namespaces = ["demo-b"]`,
		`  uninstall_old = true`)
	if strings.Contains(src, "backyards-system") {
		t.Errorf("the plan moves backyards-system, which runs on %s already", rev17)
	}

	generate.ApplyToTheEnd(t, env, dir)
	harness.WaitPods(ctx, t, env, "demo-a", "app=app-a", 5*time.Second, harness.AllOn(img17, rev17))
	harness.WaitPods(ctx, t, env, "demo-b", "app=app-b", 5*time.Second, harness.AllOn(img17, rev17))
	harness.WaitPods(ctx, t, env, "istio-system", "app=istio-ingressgateway", 5*time.Second, harness.AllOn(img17, rev17))
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstio).Namespace("istio-system").Get(ctx, "mesh", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Istio istio-system/mesh: err = %v, want NotFound", err)
	}

	// Nothing is left to generate a plan from.
	r := harness.Meshwave(t, env, t.TempDir(), "generate", "--from", rev16, "--to", rev17)
	if r.Code != 1 || !strings.Contains(r.Stderr, `no control plane of revision "mesh.istio-system"`) {
		t.Errorf("generate after the upgrade: exit %d, want 1 naming the missing revision\n%s", r.Code, r.Stderr)
	}
}
