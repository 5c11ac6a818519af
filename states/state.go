package states

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/meshwave/meshwave/plan"
)

// Status is where a step is in its life. A step only moves forward:
// pending -> running -> done | failed, and done -> rolled-back when a
// rollback reverses it. A new apply runs rolled-back and failed steps again.
type Status string

const (
	StatusPending    Status = "pending"
	StatusRunning    Status = "running"
	StatusDone       Status = "done"
	StatusFailed     Status = "failed"
	StatusRolledBack Status = "rolled-back"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusRunning, StatusDone, StatusFailed, StatusRolledBack:
		return true
	}
	return false
}

// State is everything meshwave remembers between runs.
type State struct {
	// Lineage identifies one upgrade's history. It is set once, when the
	// state is created, and never changes; a saved plan or a state file with
	// another lineage belongs to a different upgrade.
	Lineage string
	// Serial grows by one with every write, so a saved plan can tell that the
	// state moved on after it was made.
	Serial uint64
	// PlanHash is the SourceHash of the plan last applied.
	PlanHash string
	// Steps in the order they were first seen in a plan.
	Steps []*StepState
	// Approvals granted to approval gates, one per wave.
	Approvals []Approval
	// ManualFollowUp is what finished waves left to the person applying
	// the plan: workloads a restart cannot roll, which apply did not touch.
	ManualFollowUp []plan.FollowUp
}

// Ref names one written version of a state: the upgrade it belongs to
// (Lineage) and how many writes it has seen (Serial). A saved plan keeps the
// Ref of the state it was computed against; the zero Ref means no state.
type Ref struct {
	Lineage string
	Serial  uint64
}

// RefOf returns the Ref of st; nil (no state) gives the zero Ref.
func RefOf(st *State) Ref {
	if st == nil {
		return Ref{}
	}
	return Ref{Lineage: st.Lineage, Serial: st.Serial}
}

// StepState is the recorded progress of one plan step.
type StepState struct {
	ID   string
	Kind plan.StepKind
	Wave string
	// Object is the step's object, kept so a rollback can undo a step that
	// a later plan no longer contains.
	Object    *plan.ObjectRef
	Status    Status
	StartedAt time.Time
	EndedAt   time.Time
	Error     string
	// Record is what the step read before changing anything (see
	// executor.Record). It is written before the step's first change and
	// reused, unchanged, by every retry, so a retry re-sends the same change.
	// A Record is replaced, never changed in place: Clone shares it.
	Record map[string]string
	// Attempts counts how many times the step was started.
	Attempts int
}

// Approval is a granted approval gate.
type Approval struct {
	Wave string
	// By says who approved: "flag" for -approve WAVE, "prompt" for an
	// interactive yes.
	By string
	At time.Time
}

// Clone is a copy of s, written while the original goes on changing: every
// step is copied, and shares its Record, which is replaced, never changed
// in place.
func (s *State) Clone() *State {
	c := *s
	c.Steps = make([]*StepState, len(s.Steps))
	for i, st := range s.Steps {
		cs := *st
		if st.Object != nil {
			o := *st.Object
			cs.Object = &o
		}
		c.Steps[i] = &cs
	}
	c.Approvals = slices.Clone(s.Approvals)
	c.ManualFollowUp = slices.Clone(s.ManualFollowUp)
	return &c
}

// New returns an empty state with a fresh lineage.
func New() *State {
	return &State{Lineage: NewLineage()}
}

// NewLineage returns a random UUID-shaped identifier.
func NewLineage() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ValidLineage reports whether s has the form NewLineage gives a lineage:
// a UUID in lower-case hex. Lineages are compared as strings, so another
// spelling of the same UUID would be another upgrade.
func ValidLineage(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// Step returns the state of step id, or nil.
func (s *State) Step(id string) *StepState {
	for _, st := range s.Steps {
		if st.ID == id {
			return st
		}
	}
	return nil
}

// Ensure returns the state of step, adding it as pending when it is new.
func (s *State) Ensure(step plan.Step) *StepState {
	if st := s.Step(step.ID); st != nil {
		return st
	}
	st := &StepState{ID: step.ID, Kind: step.Kind, Wave: step.Wave, Status: StatusPending}
	if step.Object != nil {
		o := *step.Object
		st.Object = &o
	}
	s.Steps = append(s.Steps, st)
	return st
}

// Approved reports whether wave's approval gate was granted.
func (s *State) Approved(wave string) bool {
	for _, a := range s.Approvals {
		if a.Wave == wave {
			return true
		}
	}
	return false
}

// Approve records an approval for wave; approving twice keeps the first.
func (s *State) Approve(wave, by string, at time.Time) {
	if !s.Approved(wave) {
		s.Approvals = append(s.Approvals, Approval{Wave: wave, By: by, At: at})
	}
}

// Revoke forgets wave's approval, as a rollback of the wave does: running
// the wave again needs a new approval.
func (s *State) Revoke(wave string) {
	kept := s.Approvals[:0]
	for _, a := range s.Approvals {
		if a.Wave != wave {
			kept = append(kept, a)
		}
	}
	s.Approvals = kept
}

// FollowUps returns the manual follow-up recorded for wave.
func (s *State) FollowUps(wave string) []plan.FollowUp {
	var out []plan.FollowUp
	for _, f := range s.ManualFollowUp {
		if f.Wave == wave {
			out = append(out, f)
		}
	}
	return out
}

// SetFollowUps replaces wave's manual follow-up with fs (all of wave), as
// the wave finishes; nil forgets it, as a rollback of the wave does.
func (s *State) SetFollowUps(wave string, fs []plan.FollowUp) {
	kept := []plan.FollowUp{}
	for _, f := range s.ManualFollowUp {
		if f.Wave != wave {
			kept = append(kept, f)
		}
	}
	s.ManualFollowUp = append(kept, fs...)
}

// Count returns how many steps have each status.
func (s *State) Count() map[Status]int {
	n := map[Status]int{}
	for _, st := range s.Steps {
		n[st.Status]++
	}
	return n
}

// History is what the planner needs of the state: the namespaces each
// wave's recorded steps worked in, so a later plan names one deleted since
// (plan.History). A nil state has no history.
func (st *State) History() plan.History {
	h := plan.History{WaveNamespaces: map[string][]string{}}
	if st == nil {
		return h
	}
	for _, s := range st.Steps {
		if s.Wave == "" || s.Object == nil {
			continue
		}
		ns := s.Object.Namespace
		if s.Object.Kind == "Namespace" {
			ns = s.Object.Name
		}
		if ns != "" && !slices.Contains(h.WaveNamespaces[s.Wave], ns) {
			h.WaveNamespaces[s.Wave] = append(h.WaveNamespaces[s.Wave], ns)
		}
	}
	return h
}
