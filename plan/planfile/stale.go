package planfile

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/states"
)

// StalePlanError refuses a saved plan because what it was computed from
// changed. Changes says what, one entry per difference: the state, then the
// cluster objects whose fingerprints differ.
type StalePlanError struct {
	Changes []string
}

func (e *StalePlanError) Error() string {
	return "saved plan is stale: " + strings.Join(e.Changes, "; ") + `; run "meshwave plan" again`
}

// StateChanges lists how current differs from the state a plan was saved
// against (current nil: there is no state now).
func StateChanges(saved states.Ref, current *states.State) []string {
	now := states.RefOf(current)
	switch {
	case saved == now:
		return nil
	case saved.Lineage == "":
		return []string{fmt.Sprintf("a state (lineage %s, serial %d) was created after the plan was saved", now.Lineage, now.Serial)}
	case now.Lineage == "":
		return []string{fmt.Sprintf("the state the plan was saved against (lineage %s, serial %d) is gone", saved.Lineage, saved.Serial)}
	case saved.Lineage != now.Lineage:
		return []string{fmt.Sprintf("the state belongs to another upgrade: lineage %s, the plan was saved against %s", now.Lineage, saved.Lineage)}
	}
	return []string{fmt.Sprintf("the state changed since the plan was saved: serial %d, the plan was saved at serial %d", now.Serial, saved.Serial)}
}

// CheckSavedPlan returns a *StalePlanError when the state or, through
// objectChanges, the cluster changed since the plan was saved; nil otherwise.
func CheckSavedPlan(saved states.Ref, current *states.State, objectChanges ...string) error {
	changes := append(StateChanges(saved, current), objectChanges...)
	if len(changes) == 0 {
		return nil
	}
	return &StalePlanError{Changes: changes}
}

// OtherClusterError refuses a saved plan applied to a cluster it was not
// computed against: every object it read would look deleted and re-created,
// so one line says what is really wrong.
type OtherClusterError struct {
	// Planned is the cluster the plan was made for; Current the one the
	// command talks to.
	Planned, Current string
}

func (e *OtherClusterError) Error() string {
	return fmt.Sprintf("this plan was made for cluster %s, you are talking to %s; "+
		`select that cluster (-kubeconfig, -context) or run "meshwave plan" against this one`, e.Planned, e.Current)
}

// CheckCluster returns an *OtherClusterError unless host, the API server
// the command talks to, is the cluster f was computed against. It needs no
// request to the cluster, so it runs before anything else does.
func (f *File) CheckCluster(host string) error {
	if strings.TrimSuffix(f.Cluster, "/") != strings.TrimSuffix(host, "/") {
		return &OtherClusterError{Planned: f.Cluster, Current: host}
	}
	return nil
}

// OtherBackendError refuses a saved plan applied against another state
// backend than the one it was computed against: its stale check would
// compare it with a state it never saw.
type OtherBackendError struct {
	// Planned is the backend the plan recorded; Given the one the -state-*
	// flags name.
	Planned, Given StateBackend
}

func (e *OtherBackendError) Error() string {
	return fmt.Sprintf("this plan was made against %s, but the -state-* flags name %s; "+
		`apply it without the -state-* flags, or run "meshwave plan -out" against that state`, e.Planned, e.Given)
}

// CheckBackend returns an *OtherBackendError unless given, the backend the
// command's flags name, is the one f recorded (the same kind, and the same
// file or the same Secret). A plan that recorded none accepts any.
func (f *File) CheckBackend(given StateBackend) error {
	if !f.Backend.Recorded() || sameBackend(f.Backend, given) {
		return nil
	}
	return &OtherBackendError{Planned: f.Backend, Given: given}
}

func sameBackend(a, b StateBackend) bool {
	if a.Kind != b.Kind {
		return false
	}
	if a.Kind == config.StateLocal {
		return filepath.Clean(a.Path) == filepath.Clean(b.Path)
	}
	return a.Namespace == b.Namespace && a.Name == b.Name
}
