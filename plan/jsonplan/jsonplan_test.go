package jsonplan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
)

func samplePlan() *plan.Plan {
	p := &plan.Plan{FormatVersion: FormatVersion, Flavor: plan.FlavorIstio, From: "1-26", To: "1-27"}
	ns := &plan.ObjectRef{Kind: "Namespace", Name: "shop"}
	p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: "w", MaxParallel: 3},
		[]plan.Step{{ID: "relabel", Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate, Wave: "w", Object: ns,
			SetLabels: map[string]string{"istio.io/rev": "1-27"}, RemoveLabels: []string{}}},
		[]plan.Step{{ID: "restart", Kind: plan.StepWorkloadRestart, Action: plan.ActionRestart, Wave: "w",
			Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "cart"}, Pods: 2},
			{ID: "evict", Kind: plan.StepWorkloadEvict, Action: plan.ActionEvict, Wave: "w",
				Object: &plan.ObjectRef{Kind: "StatefulSet", Namespace: "shop", Name: "cache"}, Pods: 3,
				FromRevision: "1-26", ToRevision: "1-27", FromImage: "proxyv2:1.26.3", ToImage: "proxyv2:1.27.1", TimeoutSecond: 600}})
	p.Summary = plan.Summary{Changes: 3, Relabel: 1, Restart: 1, Evict: 1}
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	p.Settings = &plan.SettingsDiff{More: 2, Incomplete: true, Changes: []plan.SettingChange{
		{Source: plan.SettingsMesh, Path: "defaultConfig.holdApplicationUntilProxyStarts", From: "true"},
		{Source: plan.SettingsValues, Path: "global.proxy.resources.limits.cpu", From: `"2"`, To: `"1"`}}}
	return p
}

// The model and the document convert both ways without losing anything the
// model holds, and keep nil and empty lists apart: a saved plan's hash
// covers the document as written.
func TestModelRoundTrip(t *testing.T) {
	for name, p := range map[string]*plan.Plan{"sample": samplePlan(), "empty": {}} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(p, FromPlan(p).Model()); diff != "" {
				t.Errorf("FromPlan, Model (-want +got):\n%s", diff)
			}
		})
	}
}

// A restart carries its wave's max_parallel for format 1.0 and 1.1
// readers; no other step does.
func TestRestartCarriesMaxParallel(t *testing.T) {
	got := map[string]int{}
	for _, s := range FromPlan(samplePlan()).Steps {
		got[s.ID] = s.MaxParallel
	}
	if diff := cmp.Diff(map[string]int{"relabel": 0, "restart": 3, "evict": 0}, got); diff != "" {
		t.Errorf("max_parallel by step (-want +got):\n%s", diff)
	}
}

// Encode writes empty lists as [] and the format version of this build.
func TestEncodeEmptyPlan(t *testing.T) {
	var b bytes.Buffer
	if err := Encode(&b, &plan.Plan{}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"format_version": FormatVersion, "from": "", "to": "", "flavor": "",
		"checks": []any{}, "steps": []any{}, "phases": []any{}, "rollback_order": []any{}, "manual_follow_up": []any{},
		"summary": map[string]any{"changes": 0.0, "relabel": 0.0, "restart": 0.0, "gateways": 0.0, "uninstall": 0.0,
			"errors": 0.0, "warnings": 0.0, "waves": []any{}},
		"source_hash": "", "automatic_rollback": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Encode(empty plan) (-want +got):\n%s", diff)
	}
}

// An eviction step and the summary's count of them read as the format
// documents them (new in 1.4): kind workload-evict, action evict.
func TestEvictStepJSON(t *testing.T) {
	var b bytes.Buffer
	if err := Encode(&b, samplePlan()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Steps   []map[string]any `json:"steps"`
		Summary map[string]any   `json:"summary"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": "evict", "kind": "workload-evict", "action": "evict", "wave": "w",
		"object":        map[string]any{"kind": "StatefulSet", "namespace": "shop", "name": "cache"},
		"from_revision": "1-26", "to_revision": "1-27", "from_image": "proxyv2:1.26.3", "to_image": "proxyv2:1.27.1",
		"pods": 3.0, "timeout_seconds": 600.0}
	if diff := cmp.Diff(want, doc.Steps[2]); diff != "" {
		t.Errorf("evict step (-want +got):\n%s", diff)
	}
	if doc.Summary["evict"] != 1.0 {
		t.Errorf("summary.evict = %v, want 1", doc.Summary["evict"])
	}
	var again Plan
	if err := json.Unmarshal(b.Bytes(), &again); err != nil {
		t.Fatal(err)
	}
	if err := again.Model().WellFormed(); err != nil {
		t.Errorf("read back: %v", err)
	}
}
