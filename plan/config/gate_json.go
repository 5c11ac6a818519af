package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The JSON form of a gate (plan -json, saved plans) uses snake_case names
// and seconds for durations, like the rest of the plan's JSON; the Go types
// keep time.Duration for the code that runs gates.

type gateJSON struct {
	Kind         GateKind         `json:"kind"`
	PauseSeconds float64          `json:"pause_seconds,omitempty"`
	HTTP         *httpGateJSON    `json:"http,omitempty"`
	Prometheus   *PrometheusGate  `json:"prometheus,omitempty"`
	Command      *commandGateJSON `json:"command,omitempty"`
}

type httpGateJSON struct {
	URL             string  `json:"url"`
	ExpectStatus    int     `json:"expect_status"`
	BodyContains    string  `json:"body_contains,omitempty"`
	Attempts        int     `json:"retries"` // named retries since format 1.0; counts attempts
	IntervalSeconds float64 `json:"interval_seconds"`
	TimeoutSeconds  float64 `json:"timeout_seconds"`
}

type commandGateJSON struct {
	Argv           []string `json:"argv"`
	TimeoutSeconds float64  `json:"timeout_seconds"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func duration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// MarshalJSON writes the gate's JSON form.
func (g Gate) MarshalJSON() ([]byte, error) {
	j := gateJSON{Kind: g.Kind, PauseSeconds: seconds(g.Pause), Prometheus: g.Prometheus}
	if h := g.HTTP; h != nil {
		j.HTTP = &httpGateJSON{URL: h.URL, ExpectStatus: h.ExpectStatus, BodyContains: h.BodyContains, Attempts: h.Attempts,
			IntervalSeconds: seconds(h.Interval), TimeoutSeconds: seconds(h.Timeout)}
	}
	if c := g.Command; c != nil {
		j.Command = &commandGateJSON{Argv: c.Argv, TimeoutSeconds: seconds(c.Timeout)}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the gate's JSON form, strictly: an unknown field or
// kind, or a gate without the settings of its kind, is an error.
func (g *Gate) UnmarshalJSON(b []byte) error {
	var j gateJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	switch {
	case !j.Kind.Valid():
		return fmt.Errorf("unknown gate kind %q", j.Kind)
	case j.Kind == GateHTTP && j.HTTP == nil, j.Kind == GatePrometheus && j.Prometheus == nil,
		j.Kind == GateCommand && (j.Command == nil || len(j.Command.Argv) == 0):
		return fmt.Errorf("%s gate without its settings", j.Kind)
	}
	*g = Gate{Kind: j.Kind, Pause: duration(j.PauseSeconds), Prometheus: j.Prometheus}
	if h := j.HTTP; h != nil {
		g.HTTP = &HTTPGate{URL: h.URL, ExpectStatus: h.ExpectStatus, BodyContains: h.BodyContains, Attempts: h.Attempts,
			Interval: duration(h.IntervalSeconds), Timeout: duration(h.TimeoutSeconds)}
	}
	if c := j.Command; c != nil {
		g.Command = &CommandGate{Argv: c.Argv, Timeout: duration(c.TimeoutSeconds)}
	}
	return nil
}
