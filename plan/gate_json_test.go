package plan

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGateJSON(t *testing.T) {
	max := 0.5
	tests := map[string]struct {
		gate Gate
		want string
	}{
		"pause":    {Gate{Kind: GatePause, Pause: 90 * time.Second}, `{"kind":"pause","pause_seconds":90}`},
		"approval": {Gate{Kind: GateApproval}, `{"kind":"approval"}`},
		"http": {Gate{Kind: GateHTTP, HTTP: &HTTPGate{URL: "http://x/", ExpectStatus: 200, Attempts: 3, Interval: 5 * time.Second, Timeout: 1500 * time.Millisecond}},
			`{"kind":"http","http":{"url":"http://x/","expect_status":200,"retries":3,"interval_seconds":5,"timeout_seconds":1.5}}`},
		"prometheus": {Gate{Kind: GatePrometheus, Prometheus: &PrometheusGate{URL: "http://p:9090", Query: "up", Max: &max}},
			`{"kind":"prometheus","prometheus":{"url":"http://p:9090","query":"up","max":0.5}}`},
		"command": {Gate{Kind: GateCommand, Command: &CommandGate{Argv: []string{"true"}, Timeout: 5 * time.Minute}},
			`{"kind":"command","command":{"argv":["true"],"timeout_seconds":300}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(tc.gate)
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
			if diff := cmp.Diff(tc.gate, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}
