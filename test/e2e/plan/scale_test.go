package plan_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/providers/kube"
	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/meshsim"
)

// One plan sends the same requests for 10 namespaces as for 200: every
// resource type is listed once, cluster-wide and paginated.
func TestPlanRequestsDoNotGrowWithNamespaces(t *testing.T) {
	env, sim := harness.Backyards(t)
	ctx := context.Background()
	cfg := &config.Config{
		Upgrade:  plan.Upgrade{From: "mesh.istio-system", To: "cp-v17x.istio-system", Flavor: plan.FlavorBackyards},
		Gateways: []config.GatewayConfig{{Name: "istio-ingressgateway", Namespace: "istio-system"}},
		Waves:    []config.WaveConfig{{Name: "scale", Selector: "scale=yes", MaxParallel: 10, Timeout: 10 * time.Minute}},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
	addNamespaces := func(from, to int) {
		t.Helper()
		var nss []meshsim.Namespace
		for i := from; i < to; i++ {
			nss = append(nss, meshsim.AppNamespace(fmt.Sprintf("scale-%03d", i), map[string]string{"istio-injection": "enabled", "scale": "yes"}, 1))
		}
		start := time.Now()
		if err := sim.Install(ctx, meshsim.Scenario{Name: "scale", Namespaces: nss}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d namespaces with a deployment each ready in %s", to-from, time.Since(start).Round(time.Millisecond))
	}
	measure := func(namespaces int) ([]string, *plan.Plan) {
		t.Helper()
		log := &requestLog{}
		prov, err := kube.New(log.wrap(env.Config), plan.FlavorBackyards)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := prov.Observe(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := plan.Compute(cfg, snap)
		t.Logf("%d namespaces: %d requests, %d steps", namespaces, len(log.list()), len(p.Steps))
		return log.list(), p
	}

	addNamespaces(0, 10)
	small, p10 := measure(10)
	addNamespaces(10, 200)
	large, p200 := measure(200)

	if diff := cmp.Diff(small, large); diff != "" {
		t.Errorf("requests differ between 10 and 200 namespaces (-10 +200):\n%s", diff)
	}
	if got := p10.Summary.Waves[0].Namespaces; got != 10 {
		t.Errorf("10-namespace plan covers %d namespaces", got)
	}
	if got := p200.Summary.Waves[0].Namespaces; got != 200 {
		t.Errorf("200-namespace plan covers %d namespaces", got)
	}
}
