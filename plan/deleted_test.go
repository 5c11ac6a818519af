package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A namespace deleted during an upgrade is named by every later plan, as
// terminating while the cluster deletes it and as gone after, and nothing
// in it is relabeled or restarted.
func TestComputeNamesDeletedNamespaces(t *testing.T) {
	type checkLine struct{ Code, Object, Message string }
	tests := map[string]struct {
		terminating bool // demo-b's deletion has started
		gone        bool // demo-b no longer exists
		hist        History
		wantDeleted []DeletedNamespace
		wantChecks  []checkLine
		wantSteps   []stepLine
	}{
		"terminating, recorded": {
			terminating: true,
			hist:        History{WaveNamespaces: map[string][]string{"rest": {"demo-b"}}},
			wantDeleted: []DeletedNamespace{{Name: "demo-b", State: NamespaceTerminating}},
			wantChecks: []checkLine{{CodeNamespaceDeleted, "demo-b",
				`namespace of wave "rest" is being deleted (terminating): nothing in it can be restarted`}},
		},
		"terminating, never recorded": {
			terminating: true,
			wantDeleted: []DeletedNamespace{{Name: "demo-b", State: NamespaceTerminating}},
			wantChecks: []checkLine{{CodeNamespaceDeleted, "demo-b",
				`namespace of wave "rest" is being deleted (terminating): nothing in it can be restarted`}},
		},
		"gone, recorded": {
			gone:        true,
			hist:        History{WaveNamespaces: map[string][]string{"rest": {"demo-b"}}},
			wantDeleted: []DeletedNamespace{{Name: "demo-b", State: NamespaceGone}},
			wantChecks: []checkLine{{CodeNamespaceDeleted, "demo-b",
				`namespace of wave "rest" was deleted during the upgrade: it no longer exists`}},
		},
		"gone, never recorded: a mistake in the plan, not a deletion": {
			gone:       true,
			wantChecks: []checkLine{{CodeNamespaceMissing, "demo-b", `namespace of wave "rest" does not exist`}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			snap := backyardsSnapshot()
			for i := range snap.Namespaces {
				if snap.Namespaces[i].Name == "demo-b" {
					snap.Namespaces[i].Terminating = tc.terminating
				}
			}
			if tc.gone {
				snap = withoutNamespace(snap, "demo-b")
			}
			p := ComputeWith(backyardsConfig(), snap, tc.hist)
			var got []checkLine
			for _, c := range p.Checks {
				if c.Code == CodeNamespaceDeleted || c.Code == CodeNamespaceMissing {
					got = append(got, checkLine{c.Code, c.Object.Name, c.Message})
				}
			}
			if diff := cmp.Diff(tc.wantChecks, got); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			rest, _ := waveSummaryOf(p, "rest")
			if diff := cmp.Diff(tc.wantDeleted, rest.Deleted); diff != "" {
				t.Errorf("wave rest's deleted namespaces (-want +got):\n%s", diff)
			}
			for _, s := range p.Steps {
				if s.Object != nil && (s.Object.Name == "demo-b" || s.Object.Namespace == "demo-b") {
					t.Errorf("step %s acts in the deleted namespace demo-b", s.ID)
				}
			}
		})
	}
}

func withoutNamespace(snap *Snapshot, name string) *Snapshot {
	var nss []Namespace
	for _, ns := range snap.Namespaces {
		if ns.Name != name {
			nss = append(nss, ns)
		}
	}
	snap.Namespaces = nss
	var wls []Workload
	for _, w := range snap.Workloads {
		if w.Namespace != name {
			wls = append(wls, w)
		}
	}
	snap.Workloads = wls
	return snap
}

func waveSummaryOf(p *Plan, wave string) (WaveSummary, bool) {
	for _, w := range p.Summary.Waves {
		if w.Name == wave {
			return w, true
		}
	}
	return WaveSummary{}, false
}
