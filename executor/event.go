package executor

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// EventKind says what happened.
type EventKind string

const (
	EventApplyStart        EventKind = "apply-start"   // Message: resuming or starting
	EventWaveStart         EventKind = "wave-start"    // Wave
	EventStepStart         EventKind = "step-start"    // a step is about to change or check something
	EventStepProgress      EventKind = "step-progress" // a long step is still running; Elapsed, Message
	EventStepDone          EventKind = "step-done"     // Elapsed
	EventStepSkipped       EventKind = "step-skipped"  // a no-op step; Message says why
	EventStepVerified      EventKind = "step-verified" // a step done in an earlier run still holds
	EventStepDrifted       EventKind = "step-drifted"  // a step done earlier no longer holds and runs again; Error
	EventStepFailed        EventKind = "step-failed"   // Error
	EventApproval          EventKind = "approval-required"
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

// EventFormatVersion is the version of the JSON lines EncodeJSON writes. The
// major part changes only when a field is removed or changes meaning.
const EventFormatVersion = "1.1"

type jsonEvent struct {
	FormatVersion string        `json:"format_version"`
	Type          EventKind     `json:"type"`
	Time          time.Time     `json:"time"`
	Step          string        `json:"step,omitempty"`
	StepKind      plan.StepKind `json:"step_kind,omitempty"`
	Wave          string        `json:"wave,omitempty"`
	Object        string        `json:"object,omitempty"`
	Message       string        `json:"message,omitempty"`
	Elapsed       float64       `json:"elapsed_seconds,omitempty"`
	Error         string        `json:"error,omitempty"`
	Totals        *jsonTotals   `json:"totals,omitempty"`
	// ManualFollowUp is new in 1.1.
	ManualFollowUp []plan.FollowUp `json:"manual_follow_up,omitempty"`
}

type jsonTotals struct {
	Changed    int `json:"changed"`
	Unchanged  int `json:"unchanged"`
	Failed     int `json:"failed"`
	RolledBack int `json:"rolled_back"`
	Pending    int `json:"pending"`
}

// EncodeJSON returns an Observer writing each event to w as one JSON object
// per line (docs/state-format.md). Write errors are dropped: a closed CI log
// must not stop an upgrade half way, and the state file is the record.
func EncodeJSON(w io.Writer) Observer {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return ObserverFunc(func(e Event) {
		je := jsonEvent{FormatVersion: EventFormatVersion, Type: e.Kind, Time: e.Time.UTC(), Step: e.StepID,
			StepKind: e.StepKind, Wave: e.Wave, Object: e.Object, Message: e.Message,
			Elapsed: e.Elapsed.Seconds(), Error: e.Error, ManualFollowUp: e.ManualFollowUp}
		if e.Totals != nil {
			t := jsonTotals(*e.Totals)
			je.Totals = &t
		}
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(je)
	})
}

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
