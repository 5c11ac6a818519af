package executor

import (
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// EventKind says what happened.
type EventKind string

const (
	EventApplyStart   EventKind = "apply-start"   // Message: resuming or starting
	EventWaveStart    EventKind = "wave-start"    // Wave
	EventStepStart    EventKind = "step-start"    // a step is about to change or check something
	EventStepProgress EventKind = "step-progress" // a long step is still running; Elapsed, Message
	EventStepDone     EventKind = "step-done"     // Elapsed
	EventStepSkipped  EventKind = "step-skipped"  // a no-op step; Message says why
	EventStepVerified EventKind = "step-verified" // a step done in an earlier run still holds
	EventStepDrifted  EventKind = "step-drifted"  // a step done earlier (or left running) no longer holds and runs again; Error
	EventStepFailed   EventKind = "step-failed"   // Error
	EventApproval     EventKind = "approval-required"
	// EventFollowUpRequired: the uninstall waits for the manual follow-up;
	// Message says what still uses the old revision and how to continue.
	EventFollowUpRequired  EventKind = "follow-up-required"
	EventWaveDone          EventKind = "wave-done"           // Totals, Elapsed
	EventWaveFailed        EventKind = "wave-failed"         // Error
	EventRollbackStart     EventKind = "rollback-start"      // Wave (empty: everything), Message
	EventStepRollbackStart EventKind = "step-rollback-start" // a done step is being reversed
	EventStepRolledBack    EventKind = "step-rolled-back"
	EventRollbackDone      EventKind = "rollback-done"
	EventInterrupted       EventKind = "interrupted" // Message says how to continue
	EventApplyDone         EventKind = "apply-done"  // Totals
)

// Event is one thing the executor reports. Fields that do not apply to a
// kind are empty.
type Event struct {
	Kind     EventKind
	Time     time.Time
	StepID   string
	StepKind plan.StepKind
	Wave     string
	// Object is the step's object, "namespace/name" or "name".
	Object  string
	Message string
	// Elapsed is how long the step (or wave, or run) has been going.
	Elapsed time.Duration
	Error   string
	Totals  *Totals
	// ManualFollowUp is, for wave-done, what the wave left to the person
	// applying the plan: workloads a restart cannot roll.
	ManualFollowUp []plan.FollowUp
}

// Totals counts steps by what happened to them, for a wave or a whole run.
type Totals struct {
	Changed    int // run in this apply and done
	Unchanged  int // no-op, or done in an earlier run
	Failed     int
	RolledBack int
	Pending    int // not reached
}

// Observer receives events. The executor calls it from one goroutine at a
// time, in order, so implementations need no locking of their own.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe implements Observer.
func (f ObserverFunc) Observe(e Event) { f(e) }

// Discard is an Observer that ignores every event.
var Discard Observer = ObserverFunc(func(Event) {})

// totals counts the steps of st whose ids are in ids; changed holds the ids
// run (to done) in this process.
func totals(st *states.State, ids []string, changed map[string]bool) *Totals {
	t := &Totals{}
	for _, id := range ids {
		ss := st.Step(id)
		if ss == nil {
			t.Pending++
			continue
		}
		switch ss.Status {
		case states.StatusDone:
			if changed[id] {
				t.Changed++
			} else {
				t.Unchanged++
			}
		case states.StatusFailed:
			t.Failed++
		case states.StatusRolledBack:
			t.RolledBack++
		default:
			t.Pending++
		}
	}
	return t
}
