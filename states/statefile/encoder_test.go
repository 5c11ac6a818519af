package statefile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
)

// reference encodes s the plain way: the whole document through one
// indenting encoder. The Encoder must produce the same bytes.
func reference(t *testing.T, s *states.State) string {
	t.Helper()
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
		t.Fatal(err)
	}
	return buf.String()
}

func encode(t *testing.T, e *Encoder, s *states.State) string {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Encode(&buf, s); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestEncoderReusesOnlyWhatIsUnchanged changes a state the ways an apply
// does between two writes, and in ways that would show a stale cached
// step, and checks one Encoder's every document against the reference.
func TestEncoderReusesOnlyWhatIsUnchanged(t *testing.T) {
	e := &Encoder{}
	s := sample()
	paris := time.FixedZone("CET", 3600)
	changes := []struct {
		name string
		fn   func()
	}{
		{"nothing", func() {}},
		{"a step starts", func() {
			s.Steps[4].Status, s.Steps[4].StartedAt, s.Steps[4].Attempts = states.StatusRunning, time.Date(2026, 3, 1, 3, 0, 0, 5, time.UTC), 1
		}},
		{"a record written in place", func() { s.Steps[2].Record["restartedAt"] = "2026-03-01T03:00:00Z" }},
		{"a record key added", func() { s.Steps[1].Record["<&>"] = "é \u2028" }},
		{"the same instant in another location", func() { s.Steps[0].EndedAt = s.Steps[0].EndedAt.In(paris) }},
		{"an object renamed in place", func() { s.Steps[0].Object.Name = "ingress-2" }},
		{"an object dropped", func() { s.Steps[1].Object = nil }},
		{"an error", func() { s.Steps[3].Error = "line one\nline \"two\"" }},
		{"a step gone, one added", func() {
			s.Steps = append(s.Steps[1:], &states.StepState{ID: "wave/late/wait", Kind: plan.StepWaveWait, Wave: "late", Status: states.StatusPending})
		}},
		{"the serial, an approval and a follow-up", func() {
			s.Serial++
			s.Approvals = append(s.Approvals, states.Approval{Wave: "late", By: "prompt", At: time.Date(2026, 3, 2, 0, 0, 0, 0, paris)})
			s.ManualFollowUp = nil
		}},
		{"no steps", func() { s.Steps = nil }},
		{"steps again", func() { s.Steps = sample().Steps }},
	}
	for _, c := range changes {
		c.fn()
		if diff := cmp.Diff(reference(t, s), encode(t, e, s)); diff != "" {
			t.Fatalf("after %s (-reference +encoder):\n%s", c.name, diff)
		}
	}
	if got := encode(t, &Encoder{}, &states.State{Lineage: lineage}); got != reference(t, &states.State{Lineage: lineage}) {
		t.Errorf("empty state:\n%s", got)
	}
}

// TestSameStepSeesEveryField changes each field of a step in turn:
// sameStep must tell every change apart, or the Encoder would write a stale
// step. A field added to StepState fails here until sameStep compares it.
func TestSameStepSeesEveryField(t *testing.T) {
	base := *sample().Steps[0]
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		changed := copyStep(&base)
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch f := v.Addr().Interface().(type) {
		case *string:
			*f += "x"
		case *plan.StepKind:
			*f += "x"
		case *states.Status:
			*f += "x"
		case *int:
			*f++
		case *time.Time:
			*f = f.Add(time.Nanosecond)
		case **plan.ObjectRef:
			*f = &plan.ObjectRef{Kind: "Other"}
		case *map[string]string:
			*f = map[string]string{"other": "x"}
		default:
			t.Fatalf("StepState.%s (%s): this test cannot change it; teach it, and teach sameStep to compare it", typ.Field(i).Name, typ.Field(i).Type)
		}
		if sameStep(&base, &changed) {
			t.Errorf("sameStep does not see a change of StepState.%s", typ.Field(i).Name)
		}
	}
	same := copyStep(&base)
	if !sameStep(&base, &same) {
		t.Errorf("sameStep tells a copy apart from its original")
	}
}

// BenchmarkEncode writes a state of 4,000 steps (an apply at 1,000
// namespaces) after one step changed, as an apply does thousands of times:
// "write" encodes every step (Write, the baseline), "encoder" keeps one
// Encoder across writes, as the state stores do. Compare their ns/op.
func BenchmarkEncode(b *testing.B) {
	at := time.Date(2026, 3, 1, 2, 3, 4, 0, time.UTC)
	s := &states.State{Lineage: lineage}
	for i := range 4000 {
		ns := fmt.Sprintf("ns-%04d", i/4)
		s.Steps = append(s.Steps, &states.StepState{ID: fmt.Sprintf("wave/bench/restart/%s/deployment/app-%d", ns, i%4),
			Kind: plan.StepWorkloadRestart, Wave: "bench", Object: &plan.ObjectRef{Kind: "Deployment", Namespace: ns, Name: fmt.Sprintf("app-%d", i%4)},
			Status: states.StatusDone, StartedAt: at, EndedAt: at.Add(time.Minute), Record: map[string]string{"restartedAt": at.Format(time.RFC3339)}, Attempts: 1})
	}
	for _, c := range []struct {
		name string
		enc  func(io.Writer, *states.State) error
	}{{"write", Write}, {"encoder", new(Encoder).Encode}} {
		b.Run(c.name, func(b *testing.B) {
			var buf bytes.Buffer
			for i := 0; b.Loop(); i++ {
				s.Steps[i%len(s.Steps)].Attempts++
				buf.Reset()
				if err := c.enc(&buf, s); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
