// Package istio_test generates the plan of an upstream-Istio upgrade
// (meshsim's istio-1-26-to-1-27: revisions, the tag prod, a gateway
// Deployment) from the live cluster and applies it to its end.
package istio_test

import (
	"context"
	"os"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/test/e2e/generate"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
)

const img127 = "docker.io/istio/proxyv2:1.27.1"

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// The generated plan moves the tag prod and the gateway, edge alone as the
// canary (--canary), then one wave per tier (--by-label), and uninstalls
// 1-26: applied, every workload runs 1-27 and 1-26 is gone.
func TestGeneratedIstioPlanAppliesToTheEnd(t *testing.T) {
	env, _ := harness.Scenario(t, meshsim.ScenarioIstio)
	ctx := context.Background()
	dir, src := generate.Generate(t, env, "--from", "1-26", "--to", "1-27", "--canary", "edge", "--by-label", "tier")
	generate.Contains(t, src,
		`  flavor = "istio"`,
		`tag "prod" {}`,
		`gateway "istio-ingressgateway" {`,
		`  namespace = "istio-ingress"`,
		`wave "canary" {`,
		`  namespaces = ["edge"]`,
		`wave "backend" {`,
		`  namespaces = ["billing", "shop-backend"]`,
		`wave "frontend" {`,
		`  namespaces = ["shop-frontend"]`,
		`  uninstall_old = true`)

	generate.ApplyToTheEnd(t, env, dir)
	for _, w := range [][2]string{{"shop-frontend", "web"}, {"shop-frontend", "cart"}, {"edge", "edge-proxy"},
		{"shop-backend", "orders"}, {"shop-backend", "payments"}, {"billing", "invoices"}} {
		harness.WaitPods(ctx, t, env, w[0], "app="+w[1], 5*time.Second, harness.AllOn(img127, "1-27"))
	}
	harness.WaitPods(ctx, t, env, "istio-ingress", "app=istio-ingressgateway", 5*time.Second, harness.AllOn(img127, "1-27"))
	if _, err := harness.Dynamic(t, env).Resource(meshsim.GVRIstioOperator).Namespace("istio-system").Get(ctx, "istio-1-26", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("IstioOperator istio-system/istio-1-26: err = %v, want NotFound", err)
	}
}
