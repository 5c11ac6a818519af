package views

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

func TestJSONApplyLines(t *testing.T) {
	at := time.Date(2026, 3, 1, 2, 3, 4, 0, time.FixedZone("CET", 3600))
	var buf bytes.Buffer
	obs := NewApply(ViewJSON, &buf, ApplyOptions{})
	obs.Observe(executor.Event{Kind: executor.EventStepProgress, Time: at, StepID: "wave/canary/restart/demo-a/deployment/app-a",
		StepKind: plan.StepWorkloadRestart, Wave: "canary", Object: "demo-a/app-a", Message: "restarting",
		Elapsed: 10*time.Second + 500*time.Millisecond})
	obs.Observe(executor.Event{Kind: executor.EventWaveDone, Time: at, Wave: "canary", ManualFollowUp: []plan.FollowUp{{Wave: "canary",
		Object: plan.ObjectRef{Kind: "Job", Namespace: "demo-a", Name: "migrate"}, Pods: 1, Reason: "a Job", Manual: "re-run the Job"}}})
	obs.Observe(executor.Event{Kind: executor.EventApplyDone, Time: at, Totals: &executor.Totals{Changed: 3, Unchanged: 1}})

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, m)
	}
	want := []map[string]any{
		{"format_version": "1.1", "type": "step-progress", "time": "2026-03-01T01:03:04Z",
			"step": "wave/canary/restart/demo-a/deployment/app-a", "step_kind": "workload-restart", "wave": "canary",
			"object": "demo-a/app-a", "message": "restarting", "elapsed_seconds": 10.5},
		{"format_version": "1.1", "type": "wave-done", "time": "2026-03-01T01:03:04Z", "wave": "canary",
			"manual_follow_up": []any{map[string]any{"wave": "canary", "object": map[string]any{"kind": "Job", "namespace": "demo-a", "name": "migrate"},
				"pods": 1.0, "reason": "a Job", "manual": "re-run the Job"}}},
		{"format_version": "1.1", "type": "apply-done", "time": "2026-03-01T01:03:04Z",
			"totals": map[string]any{"changed": 3.0, "unchanged": 1.0, "failed": 0.0, "rolled_back": 0.0, "pending": 0.0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON lines (-want +got):\n%s", diff)
	}
}
