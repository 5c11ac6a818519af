package views

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// EventFormatVersion is the version of the event lines of apply -json and
// rollback -json (docs/state-format.md). The major part changes only when a
// field is removed or changes meaning.
const EventFormatVersion = "1.1"

type jsonEvent struct {
	FormatVersion string             `json:"format_version"`
	Type          executor.EventKind `json:"type"`
	Time          time.Time          `json:"time"`
	Step          string             `json:"step,omitempty"`
	StepKind      plan.StepKind      `json:"step_kind,omitempty"`
	Wave          string             `json:"wave,omitempty"`
	Object        string             `json:"object,omitempty"`
	Message       string             `json:"message,omitempty"`
	Elapsed       float64            `json:"elapsed_seconds,omitempty"`
	Error         string             `json:"error,omitempty"`
	Totals        *jsonTotals        `json:"totals,omitempty"`
	// ManualFollowUp is new in 1.1.
	ManualFollowUp []jsonFollowUp `json:"manual_follow_up,omitempty"`
}

type jsonTotals struct {
	Changed    int `json:"changed"`
	Unchanged  int `json:"unchanged"`
	Failed     int `json:"failed"`
	RolledBack int `json:"rolled_back"`
	Pending    int `json:"pending"`
}

type jsonFollowUp struct {
	Wave   string     `json:"wave"`
	Object jsonObject `json:"object"`
	Pods   int        `json:"pods"`
	Reason string     `json:"reason"`
	Manual string     `json:"manual"`
}

type jsonObject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// jsonApply writes each event as one JSON object per line. Write errors
// are dropped: a closed CI log must not stop an upgrade half way, and the
// state file is the record.
type jsonApply struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONApply(w io.Writer) *jsonApply {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonApply{enc: enc}
}

// Plan writes nothing: the event lines are the whole output.
func (*jsonApply) Plan(*plan.Plan) error { return nil }

// Begin writes nothing: the events say what runs.
func (*jsonApply) Begin(*plan.Plan) {}

// Hold has nothing to hold: a line, once written, stays.
func (*jsonApply) Hold() (release func()) { return func() {} }

// Close has nothing to flush.
func (*jsonApply) Close() {}

// Observe implements executor.Observer.
func (a *jsonApply) Observe(e executor.Event) {
	je := jsonEvent{FormatVersion: EventFormatVersion, Type: e.Kind, Time: e.Time.UTC(), Step: e.StepID,
		StepKind: e.StepKind, Wave: e.Wave, Object: e.Object, Message: e.Message,
		Elapsed: e.Elapsed.Seconds(), Error: e.Error}
	if e.Totals != nil {
		t := jsonTotals(*e.Totals)
		je.Totals = &t
	}
	for _, f := range e.ManualFollowUp {
		o := f.Object
		je.ManualFollowUp = append(je.ManualFollowUp, jsonFollowUp{Wave: f.Wave,
			Object: jsonObject{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}, Pods: f.Pods, Reason: f.Reason, Manual: f.Manual})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.enc.Encode(je)
}
