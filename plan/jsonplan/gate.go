package jsonplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/meshwave/meshwave/plan/config"
)

// Gate is a gate's document: snake_case names and seconds for durations,
// like the rest of the plan; the model keeps time.Duration for the code
// that runs gates. Exactly the settings of Kind are set.
type Gate struct {
	Kind         config.GateKind `json:"kind"`
	PauseSeconds float64         `json:"pause_seconds,omitempty"`
	HTTP         *HTTPGate       `json:"http,omitempty"`
	Prometheus   *PrometheusGate `json:"prometheus,omitempty"`
	Command      *CommandGate    `json:"command,omitempty"`
}

// HTTPGate is an http gate's settings.
type HTTPGate struct {
	URL          string `json:"url"`
	ExpectStatus int    `json:"expect_status"`
	BodyContains string `json:"body_contains,omitempty"`
	// Attempts has been named retries since format 1.0; it counts attempts.
	Attempts        int     `json:"retries"`
	IntervalSeconds float64 `json:"interval_seconds"`
	TimeoutSeconds  float64 `json:"timeout_seconds"`
}

// PrometheusGate is a prometheus gate's settings; nil bounds are open.
type PrometheusGate struct {
	URL   string   `json:"url"`
	Query string   `json:"query"`
	Max   *float64 `json:"max,omitempty"`
	Min   *float64 `json:"min,omitempty"`
}

// CommandGate is a command gate's settings.
type CommandGate struct {
	Argv           []string `json:"argv"`
	TimeoutSeconds float64  `json:"timeout_seconds"`
}

// gateJSON is Gate without its methods. Its name shows in decoding errors
// ("Go struct field gateJSON.pause_seconds"), as it has since format 1.0.
type gateJSON Gate

// MarshalJSON writes the gate with encoding/json's default HTML escaping
// ("<" as \u003c), even inside plan -json, which escapes nothing else: gates
// have been written so since format 1.0, and the bytes of the document do
// not change without a new format version.
func (g Gate) MarshalJSON() ([]byte, error) { return json.Marshal(gateJSON(g)) }

// UnmarshalJSON reads a gate strictly: an unknown field or kind, or a gate
// without the settings of its kind, is an error, so a gate read back from a
// saved plan runs as it reads rather than as something else.
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
	case j.Kind == config.GateHTTP && j.HTTP == nil, j.Kind == config.GatePrometheus && j.Prometheus == nil,
		j.Kind == config.GateCommand && (j.Command == nil || len(j.Command.Argv) == 0):
		return fmt.Errorf("%s gate without its settings", j.Kind)
	}
	*g = Gate(j)
	return nil
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func duration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func fromGate(g *config.Gate) *Gate {
	if g == nil {
		return nil
	}
	j := &Gate{Kind: g.Kind, PauseSeconds: seconds(g.Pause)}
	if h := g.HTTP; h != nil {
		j.HTTP = &HTTPGate{URL: h.URL, ExpectStatus: h.ExpectStatus, BodyContains: h.BodyContains, Attempts: h.Attempts,
			IntervalSeconds: seconds(h.Interval), TimeoutSeconds: seconds(h.Timeout)}
	}
	if p := g.Prometheus; p != nil {
		j.Prometheus = &PrometheusGate{URL: p.URL, Query: p.Query, Max: p.Max, Min: p.Min}
	}
	if c := g.Command; c != nil {
		j.Command = &CommandGate{Argv: c.Argv, TimeoutSeconds: seconds(c.Timeout)}
	}
	return j
}

// model is the gate j describes; nil stays nil.
func (j *Gate) model() *config.Gate {
	if j == nil {
		return nil
	}
	g := &config.Gate{Kind: j.Kind, Pause: duration(j.PauseSeconds)}
	if h := j.HTTP; h != nil {
		g.HTTP = &config.HTTPGate{URL: h.URL, ExpectStatus: h.ExpectStatus, BodyContains: h.BodyContains, Attempts: h.Attempts,
			Interval: duration(h.IntervalSeconds), Timeout: duration(h.TimeoutSeconds)}
	}
	if p := j.Prometheus; p != nil {
		g.Prometheus = &config.PrometheusGate{URL: p.URL, Query: p.Query, Max: p.Max, Min: p.Min}
	}
	if c := j.Command; c != nil {
		g.Command = &config.CommandGate{Argv: c.Argv, Timeout: duration(c.TimeoutSeconds)}
	}
	return g
}
