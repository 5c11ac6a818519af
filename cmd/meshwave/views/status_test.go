package views

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// The status view lists the recorded steps, then per relabeled namespace
// its labels and how many of its proxied pods run the target proxy; pods
// without a sidecar are not counted.
func TestStatusView(t *testing.T) {
	p := istioPlan()
	snap := &plan.Snapshot{
		Namespaces: []plan.Namespace{{Name: "shop-canary", Labels: map[string]string{plan.LabelRevision: "1-27"}}},
		Workloads: []plan.Workload{{Namespace: "shop-canary", Name: "cart", Pods: []plan.Pod{
			{ProxyImage: isToImage}, {ProxyImage: isFromImage}, {}}}},
	}
	st := &states.State{Lineage: "l1", Serial: 4, Steps: []*states.StepState{
		{ID: "wave/canary/relabel/shop-canary", Status: states.StatusDone},
		{ID: "wave/canary/verify", Status: states.StatusFailed, Error: "1 pod\x1b[2J on 1-26"}}}
	var b bytes.Buffer
	v := NewStatus(&b)
	if err := v.State("up.state", st); err != nil {
		t.Fatal(err)
	}
	if err := v.Live(p, snap); err != nil {
		t.Fatal(err)
	}
	want := `State: up.state (lineage l1, serial 4)

STEP                             STATUS  ENDED  ERROR
wave/canary/relabel/shop-canary  done           
wave/canary/verify               failed         1 pod\x1b[2J on 1-26

Live revisions (1-26 → 1-27):
WAVE    NAMESPACE    ISTIO-INJECTION  REV   PODS ON TARGET
canary  shop-canary                   1-27  1/2
rest    legacy                              0/0
rest    payments                            0/0
rest    shop                                0/0
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}
