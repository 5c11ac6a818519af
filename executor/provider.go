package executor

import (
	"context"

	"github.com/meshwave/meshwave/plan"
)

// Record is what a step is about to change, read before it changes it: a
// namespace's original labels, a gateway's original control-plane ref, the
// restartedAt value a restart sends. It is written to the state before the
// step mutates anything, so a resumed step re-sends the same change and a
// rollback restores exactly what was there.
type Record = map[string]string

// Progress receives human-readable progress of a long step.
type Progress = func(msg string)

// Provider performs and verifies steps against a cluster. Gate steps never
// reach it: the executor runs gates itself.
type Provider interface {
	// Prepare reads what step will change and returns it; it changes
	// nothing. It is called once per step, before the first Run. A step
	// that changes the cluster records at least one value: a done step
	// with an empty record is taken to have changed nothing, and a
	// rollback leaves it alone.
	Prepare(ctx context.Context, step plan.Step) (Record, error)
	// Run performs step. With the same Record it is idempotent: re-running a
	// step that was interrupted sends the same change again.
	Run(ctx context.Context, step plan.Step, rec Record, progress Progress) error
	// Verify cheaply confirms that a step recorded as done still holds in
	// the cluster; an error says what no longer holds.
	Verify(ctx context.Context, step plan.Step, rec Record) error
	// Rollback reverses step using rec (restores labels, moves a gateway
	// back, restarts a workload again, waits and verifies on the source
	// revision).
	Rollback(ctx context.Context, step plan.Step, rec Record, progress Progress) error
}

// UsersReader is a Provider that reads, live, what still uses a revision
// (plan.RevisionUsers on the cluster as it is). Before the uninstall of a
// plan that left workloads to manual follow-up, the executor asks it, and
// stops the run short of the uninstall while anything does.
type UsersReader interface {
	RevisionUsers(ctx context.Context, revision string) ([]string, error)
}
