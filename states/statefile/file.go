package statefile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sync"
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
	return new(Encoder).Encode(w, s)
}

// Encoder writes state documents, byte for byte as Write does, and keeps
// each step's encoding: a step equal to the one it encoded last time (see
// sameStep) is copied, not encoded again. An apply writes its whole state
// after every batch of step changes: at 1,000 namespaces that is 4,000
// steps, 2 MB, thousands of times, and almost all of it unchanged each
// time. The zero Encoder is ready to use and safe for concurrent use.
type Encoder struct {
	mu    sync.Mutex
	steps map[string]*encodedStep
	// epoch counts documents; a step not in the last one is dropped.
	epoch uint64
	// buf is the document, kept between calls: it is as large as the
	// last one, and allocating it anew is most of an unchanged write.
	buf bytes.Buffer
}

// encodedStep is a step's last encoding and a copy of the step it was made
// from, which the caller's later changes cannot reach.
type encodedStep struct {
	step  states.StepState
	json  []byte
	epoch uint64
}

// stepIndent is the prefix of a step's lines: the steps are the elements
// of an array in the document's top-level object.
const stepIndent = "    "

// Encode writes s to w as Write does.
func (e *Encoder) Encode(w io.Writer, s *states.State) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	buf := &e.buf
	buf.Reset()
	buf.WriteString("{\n")
	for _, f := range []struct {
		name  string
		value any
	}{{"format_version", FormatVersion}, {"lineage", s.Lineage}, {"serial", s.Serial}, {"plan_hash", s.PlanHash}} {
		if err := field(buf, f.name, f.value, ",\n"); err != nil {
			return err
		}
	}
	buf.WriteString(`  "steps": [`)
	if e.steps == nil {
		e.steps = make(map[string]*encodedStep, len(s.Steps))
	}
	e.epoch++
	for i, st := range s.Steps {
		enc := e.steps[st.ID]
		if enc == nil || !sameStep(&enc.step, st) {
			b, err := marshal(stepV1{ID: st.ID, Kind: st.Kind, Wave: st.Wave, Object: st.Object, Status: st.Status,
				StartedAt: timePtr(st.StartedAt), EndedAt: timePtr(st.EndedAt), Error: st.Error,
				Record: st.Record, Attempts: st.Attempts}, stepIndent)
			if err != nil {
				return err
			}
			enc = &encodedStep{step: copyStep(st), json: b}
			e.steps[st.ID] = enc
		}
		enc.epoch = e.epoch
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n" + stepIndent)
		buf.Write(enc.json)
	}
	if len(s.Steps) > 0 {
		buf.WriteString("\n  ")
	}
	buf.WriteString("],\n")
	if len(e.steps) > len(s.Steps) {
		maps.DeleteFunc(e.steps, func(_ string, enc *encodedStep) bool { return enc.epoch != e.epoch })
	}
	approvals := []approvalV1{}
	for _, a := range s.Approvals {
		approvals = append(approvals, approvalV1(a))
	}
	followUps := []followUpV1{}
	for _, fu := range s.ManualFollowUp {
		followUps = append(followUps, followUpV1(fu))
	}
	if err := field(buf, "approvals", approvals, ",\n"); err != nil {
		return err
	}
	if err := field(buf, "manual_follow_up", followUps, "\n}\n"); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// field writes one member of the document's top-level object, then end.
func field(buf *bytes.Buffer, name string, value any, end string) error {
	v, err := marshal(value, "  ")
	if err != nil {
		return err
	}
	buf.WriteString(`  "` + name + `": `)
	buf.Write(v)
	buf.WriteString(end)
	return nil
}

// marshal encodes v as the document's encoder would at a depth whose lines
// start with prefix: indented by two spaces, HTML characters not escaped,
// the first line not prefixed, no newline at the end.
func marshal(v any, prefix string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// sameStep reports whether two steps encode alike. Every field of
// StepState is compared (TestSameStepSeesEveryField fails when one is
// added and not compared here); times with ==, not Equal, since the same
// instant in another location encodes differently.
func sameStep(a, b *states.StepState) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Wave == b.Wave &&
		(a.Object == nil) == (b.Object == nil) && (a.Object == nil || *a.Object == *b.Object) &&
		a.Status == b.Status && a.StartedAt == b.StartedAt && a.EndedAt == b.EndedAt &&
		a.Error == b.Error && maps.Equal(a.Record, b.Record) && a.Attempts == b.Attempts
}

// copyStep copies a step with its own Object and Record.
func copyStep(st *states.StepState) states.StepState {
	c := *st
	if st.Object != nil {
		o := *st.Object
		c.Object = &o
	}
	c.Record = maps.Clone(st.Record)
	return c
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
