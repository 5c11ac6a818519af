package statefile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/meshwave/meshwave/internal/formatversion"
	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// FormatVersion is the version this build writes. A reader accepts the same
// major version with a minor version up to its own; anything else is refused
// rather than half-understood.
const FormatVersion = "1.1"

// NotStateError says the bytes are not a meshwave state file at all.
type NotStateError struct{ Reason string }

func (e *NotStateError) Error() string { return "not a meshwave state file: " + e.Reason }

// UnsupportedVersionError says the file is a meshwave state in a format
// version this build cannot read, typically one written by a newer meshwave.
type UnsupportedVersionError struct{ Version string }

func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("state format version %q is not supported (this meshwave reads %s)", e.Version, FormatVersion)
}

// InvalidError says the file is a meshwave state whose content is broken.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return "invalid state: " + e.Reason }

// fileV1 is the JSON document of format version 1.x.
type fileV1 struct {
	FormatVersion string       `json:"format_version"`
	Lineage       string       `json:"lineage"`
	Serial        uint64       `json:"serial"`
	PlanHash      string       `json:"plan_hash"`
	Steps         []stepV1     `json:"steps"`
	Approvals     []approvalV1 `json:"approvals"`
	// ManualFollowUp is new in 1.1.
	ManualFollowUp []followUpV1 `json:"manual_follow_up"`
}

type stepV1 struct {
	ID        string            `json:"id"`
	Kind      plan.StepKind     `json:"kind"`
	Wave      string            `json:"wave,omitempty"`
	Object    *plan.ObjectRef   `json:"object,omitempty"`
	Status    states.Status     `json:"status"`
	StartedAt *time.Time        `json:"started_at,omitempty"`
	EndedAt   *time.Time        `json:"ended_at,omitempty"`
	Error     string            `json:"error,omitempty"`
	Record    map[string]string `json:"record,omitempty"`
	Attempts  int               `json:"attempts"`
}

type followUpV1 struct {
	Wave   string         `json:"wave"`
	Object plan.ObjectRef `json:"object"`
	Pods   int            `json:"pods"`
	Reason string         `json:"reason"`
	Manual string         `json:"manual"`
}

type approvalV1 struct {
	Wave string    `json:"wave"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Write encodes s as an indented JSON document.
func Write(w io.Writer, s *states.State) error {
	f := fileV1{FormatVersion: FormatVersion, Lineage: s.Lineage, Serial: s.Serial, PlanHash: s.PlanHash,
		Steps: []stepV1{}, Approvals: []approvalV1{}, ManualFollowUp: []followUpV1{}}
	for _, st := range s.Steps {
		f.Steps = append(f.Steps, stepV1{ID: st.ID, Kind: st.Kind, Wave: st.Wave, Object: st.Object, Status: st.Status,
			StartedAt: timePtr(st.StartedAt), EndedAt: timePtr(st.EndedAt), Error: st.Error,
			Record: st.Record, Attempts: st.Attempts})
	}
	for _, a := range s.Approvals {
		f.Approvals = append(f.Approvals, approvalV1(a))
	}
	for _, fu := range s.ManualFollowUp {
		f.ManualFollowUp = append(f.ManualFollowUp, followUpV1(fu))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Read decodes a state document. Its errors are *NotStateError,
// *UnsupportedVersionError or *InvalidError.
func Read(r io.Reader) (*states.State, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, &NotStateError{Reason: "not a JSON object: " + err.Error()}
	}
	raw, ok := probe["format_version"]
	if !ok {
		return nil, &NotStateError{Reason: `no "format_version" field`}
	}
	var version string
	if err := json.Unmarshal(raw, &version); err != nil {
		return nil, &NotStateError{Reason: `"format_version" is not a string`}
	}
	if !formatversion.Readable(version, FormatVersion) {
		return nil, &UnsupportedVersionError{Version: version}
	}
	var f fileV1
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &InvalidError{Reason: err.Error()}
	}
	return f.state()
}

func (f *fileV1) state() (*states.State, error) {
	switch {
	case f.Lineage == "":
		return nil, &InvalidError{Reason: "lineage is empty"}
	case !states.ValidLineage(f.Lineage):
		return nil, &InvalidError{Reason: fmt.Sprintf("lineage %q is not a UUID", f.Lineage)}
	}
	s := &states.State{Lineage: f.Lineage, Serial: f.Serial, PlanHash: f.PlanHash}
	seen := map[string]bool{}
	for i, st := range f.Steps {
		switch {
		case st.ID == "":
			return nil, &InvalidError{Reason: fmt.Sprintf("steps[%d] has no id", i)}
		case seen[st.ID]:
			return nil, &InvalidError{Reason: fmt.Sprintf("step %q appears twice", st.ID)}
		case !st.Kind.Valid():
			return nil, &InvalidError{Reason: fmt.Sprintf("step %q has unknown kind %q", st.ID, st.Kind)}
		case !st.Status.Valid():
			return nil, &InvalidError{Reason: fmt.Sprintf("step %q has unknown status %q", st.ID, st.Status)}
		case st.Attempts < 0:
			return nil, &InvalidError{Reason: fmt.Sprintf("step %q has negative attempts", st.ID)}
		}
		seen[st.ID] = true
		s.Steps = append(s.Steps, &states.StepState{ID: st.ID, Kind: st.Kind, Wave: st.Wave, Object: st.Object, Status: st.Status,
			StartedAt: deref(st.StartedAt), EndedAt: deref(st.EndedAt), Error: st.Error, Record: st.Record,
			Attempts: st.Attempts})
	}
	for i, a := range f.Approvals {
		if a.Wave == "" {
			return nil, &InvalidError{Reason: fmt.Sprintf("approvals[%d] has no wave", i)}
		}
		s.Approvals = append(s.Approvals, states.Approval(a))
	}
	for i, fu := range f.ManualFollowUp {
		if fu.Wave == "" || fu.Object.Name == "" {
			return nil, &InvalidError{Reason: fmt.Sprintf("manual_follow_up[%d] has no wave or object", i)}
		}
		s.ManualFollowUp = append(s.ManualFollowUp, plan.FollowUp(fu))
	}
	return s, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
