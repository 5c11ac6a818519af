package meshsim

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The cluster before `backyards install -a`: only mesh, with the guide's
// demo namespaces and ingress gateway on it, and nothing of cp-v17x.
func TestBackyardsOnly16HoldsOnlyTheOldControlPlane(t *testing.T) {
	sc := Scenarios()[ScenarioBackyardsOnly16]
	var cps, nss, gws []string
	for _, cp := range sc.ControlPlanes {
		cps = append(cps, cp.Rev()+" "+cp.Version)
	}
	for _, ns := range sc.Namespaces {
		nss = append(nss, ns.Name)
	}
	for _, g := range sc.Gateways {
		gws = append(gws, g.Namespace+"/"+g.Name+" on "+g.ControlPlaneName)
	}
	if diff := cmp.Diff([]string{"mesh.istio-system 1.6.3"}, cps); diff != "" {
		t.Errorf("control planes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"demo-a", "demo-b"}, nss); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"istio-system/istio-ingressgateway on mesh"}, gws); diff != "" {
		t.Errorf("gateways (-want +got):\n%s", diff)
	}
	if got := len(Scenarios()[ScenarioBackyards].ControlPlanes); got != 2 {
		t.Errorf("the full scenario has %d control planes after building this one, want 2", got)
	}
}
