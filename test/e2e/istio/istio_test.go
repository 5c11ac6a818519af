// Package istio_test upgrades an upstream-Istio mesh (revisions 1-26 to
// 1-27, a revision tag, a gateway deployment) on the real local control
// plane.
package istio_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
)

const (
	img127 = "docker.io/istio/proxyv2:1.27.1"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

const upgradePlan = `
upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}

gateway "istio-ingressgateway" {
  namespace = "istio-ingress"
}

wave "frontend" {
  selector = "tier=frontend"
}

wave "backend" {
  selector     = "tier=backend"
  max_parallel = 2
}

finalize {
  uninstall_old = true
}
`

func TestIstioRevisionsUpgrade(t *testing.T) {
	env, sim := harness.Scenario(t, meshsim.ScenarioIstio)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "upgrade.mw.hcl"), []byte(upgradePlan), 0o644); err != nil {
		t.Fatal(err)
	}

	// The prod tag still points at 1-26: uninstalling 1-26 would break
	// every namespace labeled with it, so the plan refuses.
	r := harness.Meshwave(t, env, dir, "plan", "-json")
	if r.Code != 1 || !strings.Contains(r.Stdout, `"MW015"`) || !strings.Contains(r.Stdout, "revision tag prod") {
		t.Fatalf("plan with the prod tag on 1-26: exit %d, want 1 with MW015 naming the tag\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if err := sim.SetTag(ctx, "prod", "1-27"); err != nil {
		t.Fatal(err)
	}

	r = harness.Meshwave(t, env, dir, "apply", "-auto-approve")
	if r.Code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, w := range [][2]string{{"shop-frontend", "web"}, {"shop-frontend", "cart"}, {"edge", "edge-proxy"},
		{"shop-backend", "orders"}, {"shop-backend", "payments"}, {"billing", "invoices"}} {
		harness.WaitPods(ctx, t, env, w[0], "app="+w[1], 5*time.Second, func(pods []harness.PodFacts) bool {
			for _, p := range pods {
				if p.ProxyImage != img127 || p.Revision != "1-27" || !p.Ready {
					return false
				}
			}
			return len(pods) > 0
		})
	}
	harness.WaitPods(ctx, t, env, "istio-ingress", "app=istio-ingressgateway", 5*time.Second, harness.AllOn(img127, "1-27"))
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstioOperator).Namespace("istio-system").Get(ctx, "istio-1-26", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("IstioOperator istio-system/istio-1-26: err = %v, want NotFound", err)
	}
	r = harness.Meshwave(t, env, dir, "plan", "-detailed-exitcode")
	if r.Code != 0 {
		t.Errorf("plan after apply: exit %d, want 0\n%s", r.Code, r.Stdout)
	}
}
