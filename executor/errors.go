package executor

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInterrupted is matched (errors.Is) by the error Apply and Rollback
// return when their context was cancelled: the state says where they
// stopped, and running the same command again continues.
var ErrInterrupted = errors.New("interrupted")

// InterruptedError details an interruption.
type InterruptedError struct {
	// Steps that were running; they run again, idempotently, on resume.
	Steps []string
	Cause error
}

func (e *InterruptedError) Error() string {
	if len(e.Steps) == 0 {
		return "interrupted: " + e.Cause.Error()
	}
	return fmt.Sprintf("interrupted during %s: %v", strings.Join(e.Steps, ", "), e.Cause)
}

// Is makes errors.Is(err, ErrInterrupted) true.
func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

func (e *InterruptedError) Unwrap() error { return e.Cause }

// ApprovalRequiredError says an approval gate stopped the run: nobody could
// be asked, and the wave was not approved with -approve. The state is saved;
// approving the wave and applying again continues past the gate.
type ApprovalRequiredError struct {
	Wave   string
	StepID string
}

func (e *ApprovalRequiredError) Error() string {
	return fmt.Sprintf("wave %q is waiting for approval (gate %s)", e.Wave, e.StepID)
}

// FollowUpRequiredError says the run stopped before the uninstall: the plan
// left workloads to manual follow-up, and the old revision is still used.
// Nothing failed and the state is saved, the uninstall pending; once they are
// moved, applying again uninstalls.
type FollowUpRequiredError struct {
	StepID   string
	Revision string
	// Users are what still uses the revision (plan.RevisionUsers).
	Users []string
}

func (e *FollowUpRequiredError) Error() string {
	return fmt.Sprintf("the uninstall of %s waits for the manual follow-up: still used by %s", e.Revision, strings.Join(e.Users, ", "))
}

// WaveFailedError says a step or gate of a wave failed, and whether the wave
// was rolled back.
type WaveFailedError struct {
	Wave string
	Err  error
	// RolledBack is true when an automatic rollback put the wave back; when
	// the rollback itself failed, RollbackErr says why.
	RolledBack  bool
	RollbackErr error
}

func (e *WaveFailedError) Error() string {
	switch {
	case e.RolledBack:
		return fmt.Sprintf("wave %q failed and was rolled back: %v", e.Wave, e.Err)
	case e.RollbackErr != nil:
		return fmt.Sprintf("wave %q failed: %v; rolling it back failed too: %v", e.Wave, e.Err, e.RollbackErr)
	}
	return fmt.Sprintf("wave %q failed: %v", e.Wave, e.Err)
}

func (e *WaveFailedError) Unwrap() []error {
	if e.RollbackErr != nil {
		return []error{e.Err, e.RollbackErr}
	}
	return []error{e.Err}
}

// StepError says which step failed.
type StepError struct {
	StepID string
	Err    error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.StepID, e.Err) }

func (e *StepError) Unwrap() error { return e.Err }

// SaveError says the state could not be written. The run stops at once: a
// step is never started, or reported finished, without the state saying so.
type SaveError struct{ Err error }

func (e *SaveError) Error() string { return "save state: " + e.Err.Error() }

func (e *SaveError) Unwrap() error { return e.Err }
