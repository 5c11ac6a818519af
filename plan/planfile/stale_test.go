package planfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/states"
)

func TestCheckSavedPlan(t *testing.T) {
	st := &states.State{Lineage: "aaaa", Serial: 7}
	cases := map[string]struct {
		saved   states.Ref
		current *states.State
		objects []string
		want    []string // nil: not stale
	}{
		"unchanged":          {saved: states.Ref{Lineage: "aaaa", Serial: 7}, current: st},
		"no state then, now": {saved: states.Ref{}, current: nil},
		"serial moved": {saved: states.Ref{Lineage: "aaaa", Serial: 5}, current: st,
			want: []string{"the state changed since the plan was saved: serial 7, the plan was saved at serial 5"}},
		"state created": {saved: states.Ref{}, current: st,
			want: []string{"a state (lineage aaaa, serial 7) was created after the plan was saved"}},
		"state gone": {saved: states.Ref{Lineage: "aaaa", Serial: 7}, current: nil,
			want: []string{"the state the plan was saved against (lineage aaaa, serial 7) is gone"}},
		"other lineage": {saved: states.Ref{Lineage: "bbbb", Serial: 7}, current: st,
			want: []string{"the state belongs to another upgrade: lineage aaaa, the plan was saved against bbbb"}},
		"object changed": {saved: states.Ref{Lineage: "aaaa", Serial: 7}, current: st,
			objects: []string{"Namespace demo-a changed"}, want: []string{"Namespace demo-a changed"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckSavedPlan(tc.saved, tc.current, tc.objects...)
			var stale *StalePlanError
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &stale) {
				t.Fatalf("got %v, want *StalePlanError", err)
			}
			if diff := cmp.Diff(tc.want, stale.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(err.Error(), "saved plan is stale: ") {
				t.Errorf("message: %v", err)
			}
		})
	}
}

func TestCheckCluster(t *testing.T) {
	f := &File{Cluster: "https://a.example:6443"}
	if err := f.CheckCluster("https://a.example:6443/"); err != nil {
		t.Errorf("same cluster: %v", err)
	}
	err := f.CheckCluster("https://b.example:6443")
	want := `this plan was made for cluster https://a.example:6443, you are talking to https://b.example:6443; select that cluster (-kubeconfig, -context) or run "meshwave plan" against this one`
	var other *OtherClusterError
	if !errors.As(err, &other) || err.Error() != want {
		t.Errorf("other cluster: got %v, want %s", err, want)
	}
}
