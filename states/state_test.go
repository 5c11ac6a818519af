package states

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
)

func TestNewLineageIsUUIDShaped(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewLineage(), NewLineage()
	if !re.MatchString(a) || a == b {
		t.Errorf("lineages %q and %q", a, b)
	}
}

func TestEnsureAndApprovals(t *testing.T) {
	s := New()
	step := plan.Step{ID: "wave/w/relabel/ns", Kind: plan.StepNamespaceRelabel, Wave: "w",
		Object: &plan.ObjectRef{Kind: "Namespace", Name: "ns"}}
	first := s.Ensure(step)
	first.Status = StatusDone
	if again := s.Ensure(step); again != first || len(s.Steps) != 1 {
		t.Errorf("Ensure added a known step again")
	}
	step.Object.Name = "changed"
	if first.Object.Name != "ns" {
		t.Errorf("the state shares the plan's object")
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Approve("w", "flag", at)
	s.Approve("w", "prompt", at.Add(time.Hour))
	s.Approve("x", "prompt", at)
	if diff := cmp.Diff([]Approval{{"w", "flag", at}, {"x", "prompt", at}}, s.Approvals); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
	s.Revoke("w")
	if s.Approved("w") || !s.Approved("x") {
		t.Errorf("after Revoke(w): %+v", s.Approvals)
	}
}
