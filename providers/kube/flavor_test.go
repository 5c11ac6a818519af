package kube

import (
	"testing"

	"github.com/meshwave/meshwave/plan/config"
)

// Every flavor the plan language accepts has its cluster side: a plan that
// validates must never reach a provider that cannot read its flavor.
func TestEveryFlavorHasAClusterSide(t *testing.T) {
	for _, name := range config.Flavors() {
		if _, err := flavorNamed(name); err != nil {
			t.Errorf("flavor %q is in the plan language but not in providers/kube's flavors: %v", name, err)
		}
	}
	if len(flavors) != len(config.Flavors()) {
		t.Errorf("providers/kube registers %d flavors, the plan language %d: each flavor is registered in both", len(flavors), len(config.Flavors()))
	}
}
