package plan

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
)

// A flavor the language accepts must have the planner's rules, and the
// planner has rules only for flavors the language accepts.
func TestEveryFlavorHasPlannerRules(t *testing.T) {
	var planned []Flavor
	for f := range flavors {
		planned = append(planned, f)
	}
	slices.Sort(planned)
	if diff := cmp.Diff(config.Flavors(), planned); diff != "" {
		t.Errorf("flavors of the planner (-language +planner):\n%s", diff)
	}
}

func TestVersions(t *testing.T) {
	tests := map[string]struct {
		version string
		minor   string
		atLeast bool // 1.7
	}{
		"release":          {"1.7.0", "1.7", true},
		"v prefix":         {"v1.8.2", "1.8", true},
		"vendor suffix":    {"1.7.0-bzc", "1.7", true},
		"older":            {"1.6.3", "1.6", false},
		"newer major":      {"2.0.0", "2.0", true},
		"minor only":       {"1.26", "1.26", true},
		"no minor":         {"1", "1", false},
		"not a version":    {"latest", "latest", false},
		"Backyards series": {"1.4.1", "1.4", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := minorOf(tc.version); got != tc.minor {
				t.Errorf("minorOf(%q) = %q, want %q", tc.version, got, tc.minor)
			}
			if got := versionAtLeast(tc.version, 1, 7); got != tc.atLeast {
				t.Errorf("versionAtLeast(%q, 1, 7) = %t, want %t", tc.version, got, tc.atLeast)
			}
		})
	}
}
