package views

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

func TestPrintable(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":           {"wave canary → 1-27", "wave canary → 1-27"},
		"newline and tab": {"a\n\tb", "a\n\tb"},
		"CSI":             {"\x1b[2J\x1b[31mred", `\x1b[2J\x1b[31mred`},
		"OSC title":       {"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		"carriage return": {"done\rfailed", `done\x0dfailed`},
		"backspace, DEL":  {"a\bb\x7f", `a\x08b\x7f`},
		"C1 CSI":          {"a\u009b31mb", `a\u009b31mb`},
		"lone 0x9b byte":  {"a\x9b31mb", `a\x9b31mb`},
		"bidi override":   {"abc\u202edcba", `abc\u202edcba`},
		"NUL":             {"a\x00b", `a\x00b`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Printable(tc.in); got != tc.want {
				t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// printable reaches every string of a value, copies it, and keeps what is
// not a string (times, durations, numbers) as it was.
func TestPrintableValue(t *testing.T) {
	max := 0.5
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	p := &plan.Plan{From: "\x1b[1ma", Steps: []plan.Step{{ID: "s\x1b", Object: &plan.ObjectRef{Name: "n\x07"},
		SetLabels: map[string]string{"k\x1b": "v\x1b"}, Gate: &config.Gate{Kind: config.GatePrometheus,
			Prometheus: &config.PrometheusGate{Query: "q\x1b", Max: &max}}}},
		ManualFollowUp: []plan.FollowUp{{Wave: "w\x1b", Pods: 3}}}
	got := printable(p)
	want := &plan.Plan{From: `\x1b[1ma`, Steps: []plan.Step{{ID: `s\x1b`, Object: &plan.ObjectRef{Name: `n\x07`},
		SetLabels: map[string]string{`k\x1b`: `v\x1b`}, Gate: &config.Gate{Kind: config.GatePrometheus,
			Prometheus: &config.PrometheusGate{Query: `q\x1b`, Max: &max}}}},
		ManualFollowUp: []plan.FollowUp{{Wave: `w\x1b`, Pods: 3}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("printable (-want +got):\n%s", diff)
	}
	if p.From != "\x1b[1ma" || p.Steps[0].Object.Name != "n\x07" {
		t.Errorf("printable changed its argument")
	}
	type withTime struct {
		At   time.Time
		Name string
	}
	if got := printable(withTime{At: at, Name: "\x1b"}); !got.At.Equal(at) || got.Name != `\x1b` {
		t.Errorf("printable(withTime) = %+v", got)
	}
}
