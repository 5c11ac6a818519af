package jsonplan

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
)

func TestGateJSON(t *testing.T) {
	max := 0.5
	tests := map[string]struct {
		gate config.Gate
		want string
	}{
		"pause":    {config.Gate{Kind: config.GatePause, Pause: 90 * time.Second}, `{"kind":"pause","pause_seconds":90}`},
		"approval": {config.Gate{Kind: config.GateApproval}, `{"kind":"approval"}`},
		"http": {config.Gate{Kind: config.GateHTTP, HTTP: &config.HTTPGate{URL: "http://x/", ExpectStatus: 200, Attempts: 3, Interval: 5 * time.Second, Timeout: 1500 * time.Millisecond}},
			`{"kind":"http","http":{"url":"http://x/","expect_status":200,"retries":3,"interval_seconds":5,"timeout_seconds":1.5}}`},
		"prometheus": {config.Gate{Kind: config.GatePrometheus, Prometheus: &config.PrometheusGate{URL: "http://p:9090", Query: "up", Max: &max}},
			`{"kind":"prometheus","prometheus":{"url":"http://p:9090","query":"up","max":0.5}}`},
		"command": {config.Gate{Kind: config.GateCommand, Command: &config.CommandGate{Argv: []string{"true"}, Timeout: 5 * time.Minute}},
			`{"kind":"command","command":{"argv":["true"],"timeout_seconds":300}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(fromGate(&tc.gate))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("Marshal = %s, want %s", b, tc.want)
			}
			var back Gate
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.gate, back.model()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// A gate read back from a saved plan is run as it reads: a kind this build
// does not know, or a gate without its settings, is refused rather than run
// as something else (or crash the run).
func TestGateJSONRefuses(t *testing.T) {
	tests := map[string]struct{ doc, want string }{
		"unknown kind":        {`{"kind":"vote"}`, `unknown gate kind "vote"`},
		"no kind":             {`{}`, `unknown gate kind ""`},
		"http without http":   {`{"kind":"http"}`, `http gate without its settings`},
		"prometheus, no body": {`{"kind":"prometheus"}`, `prometheus gate without its settings`},
		"command, no argv":    {`{"kind":"command","command":{"argv":[],"timeout_seconds":1}}`, `command gate without its settings`},
		"unknown field":       {`{"kind":"pause","pause_seconds":1,"skip":true}`, `gate: json: unknown field "skip"`},
		"wrong type":          {`{"kind":"pause","pause_seconds":"1m"}`, `gate: json: cannot unmarshal string into Go struct field gateJSON.pause_seconds of type float64`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var g Gate
			err := json.Unmarshal([]byte(tc.doc), &g)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Unmarshal(%s) = %v, want %q", tc.doc, err, tc.want)
			}
		})
	}
}
