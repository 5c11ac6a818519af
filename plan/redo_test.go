package plan

import "testing"

func TestRedoAfterDrift(t *testing.T) {
	relabel := Step{Kind: StepNamespaceRelabel, Wave: "w", Object: &ObjectRef{Kind: "Namespace", Name: "ns"}}
	restart := func(wave, ns string) Step {
		return Step{Kind: StepWorkloadRestart, Wave: wave, Object: &ObjectRef{Kind: "Deployment", Namespace: ns, Name: "app"}}
	}
	evict := Step{Kind: StepWorkloadEvict, Wave: "w", Object: &ObjectRef{Kind: "StatefulSet", Namespace: "ns", Name: "db"}}
	gateway := Step{Kind: StepGatewayMigrate, Object: &ObjectRef{Kind: "Deployment", Namespace: "ns", Name: "gw"}}
	for _, c := range []struct {
		name string
		s, d Step
		redo bool
	}{
		{"a restart in the relabeled namespace", restart("w", "ns"), relabel, true},
		{"an eviction in the relabeled namespace", evict, relabel, true},
		{"a restart in another namespace", restart("w", "other"), relabel, false},
		{"a restart of another wave", restart("v", "ns"), relabel, false},
		{"after a restart drifted", restart("w", "ns"), restart("w", "ns"), false},
		{"a gateway in the namespace", gateway, relabel, false},
	} {
		if got := RedoAfterDrift(c.s, c.d) != ""; got != c.redo {
			t.Errorf("%s: redo = %v, want %v", c.name, got, c.redo)
		}
	}
}
