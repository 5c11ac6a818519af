package plan

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
)

// The plan carries its structure: every step sits in exactly one group of
// one phase, a wave's restarts run together under its max_parallel, and the
// rollback order reverses tags first, waves last first (labels before
// restarts), gateways last.
func TestComputePhasesAndRollbackOrder(t *testing.T) {
	cfg := backyardsConfig()
	cfg.Tags = []config.TagConfig{{Name: "prod"}}
	snap := backyardsSnapshot()
	snap.Workloads = append(snap.Workloads, Workload{Kind: KindDeployment, Namespace: "demo-b", Name: "app-c",
		Pods: []Pod{{Name: "app-c-1", ProxyImage: img16, Revision: "mesh.istio-system", Ready: true}}})
	p := Compute(cfg, snap)

	want := []Phase{
		{Kind: PhaseTags, Groups: [][]string{{"tag/prod"}}},
		{Kind: PhaseGateways, Groups: [][]string{{"gateway/istio-system/istio-ingressgateway"}}},
		{Kind: PhaseWave, Wave: "canary", MaxParallel: 1, Groups: [][]string{
			{"wave/canary/relabel/demo-a"}, {"wave/canary/restart/demo-a/deployment/app-a"},
			{"wave/canary/wait"}, {"wave/canary/verify"}, {"wave/canary/gate/0-pause"}}},
		{Kind: PhaseWave, Wave: "rest", MaxParallel: 2, Groups: [][]string{
			{"wave/rest/relabel/demo-b"}, {"wave/rest/restart/demo-b/deployment/app-b", "wave/rest/restart/demo-b/deployment/app-c"},
			{"wave/rest/wait"}, {"wave/rest/verify"}}},
		{Kind: PhaseFinalize, Groups: [][]string{{"finalize/uninstall/mesh.istio-system"}}},
	}
	if diff := cmp.Diff(want, p.Phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	var inPhases []string
	for _, ph := range p.Phases {
		inPhases = append(inPhases, ph.StepIDs()...)
	}
	var ids []string
	for _, s := range p.Steps {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, inPhases) {
		t.Errorf("steps %v are not the phases' steps %v", ids, inPhases)
	}

	wantRollback := []RollbackPhase{
		{Kind: PhaseFinalize, Groups: [][]string{}, Irreversible: []string{"finalize/uninstall/mesh.istio-system"}},
		{Kind: PhaseTags, Groups: [][]string{{"tag/prod"}}},
		{Kind: PhaseWave, Wave: "rest", MaxParallel: 2,
			Groups:   [][]string{{"wave/rest/relabel/demo-b"}, {"wave/rest/restart/demo-b/deployment/app-b", "wave/rest/restart/demo-b/deployment/app-c"}},
			Reverify: []string{"wave/rest/wait", "wave/rest/verify"},
			Rerun:    []string{"wave/rest/wait", "wave/rest/verify"}},
		{Kind: PhaseWave, Wave: "canary", MaxParallel: 1,
			Groups:   [][]string{{"wave/canary/relabel/demo-a"}, {"wave/canary/restart/demo-a/deployment/app-a"}},
			Reverify: []string{"wave/canary/wait", "wave/canary/verify"},
			Rerun:    []string{"wave/canary/wait", "wave/canary/verify", "wave/canary/gate/0-pause"}},
		{Kind: PhaseGateways, Groups: [][]string{{"gateway/istio-system/istio-ingressgateway"}}},
	}
	if diff := cmp.Diff(wantRollback, p.RollbackOrder); diff != "" {
		t.Errorf("rollback order (-want +got):\n%s", diff)
	}
}

// Relabels are reversed last first, each alone, before the restarts.
func TestRollbackOrderRelabelsLastFirst(t *testing.T) {
	steps := []Step{
		{ID: "r/a", Kind: StepNamespaceRelabel, Wave: "w"},
		{ID: "r/b", Kind: StepNamespaceRelabel, Wave: "w"},
		{ID: "s/a", Kind: StepWorkloadRestart, Wave: "w"},
		{ID: "g/1", Kind: StepGatewayMigrate},
		{ID: "g/2", Kind: StepGatewayMigrate},
	}
	got := RollbackOrder(steps, []Phase{{Kind: PhaseWave, Wave: "w", MaxParallel: 3}})
	want := []RollbackPhase{
		{Kind: PhaseWave, Wave: "w", MaxParallel: 3, Groups: [][]string{{"r/b"}, {"r/a"}, {"s/a"}}},
		{Kind: PhaseGateways, Groups: [][]string{{"g/2"}, {"g/1"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rollback order (-want +got):\n%s", diff)
	}
}
