package executor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statemgr"
)

const gateStep = "wave/w/gate/0-"

// gateURL is where the in-process servers of the gate tests answer.
const gateURL = "http://gate.test"

// applyGate applies a one-wave plan whose only gate is g and returns the
// error, the gate step's saved state and the events. A test of a gate that
// waits (pause, http, prometheus) calls it in a synctest bubble: a pause, an
// interval or a timeout of minutes takes no real time, and what the test sees
// does not depend on how busy the machine is. Command gates run real
// processes, so their tests keep the real clock.
func applyGate(t *testing.T, g plan.Gate, opts Options) (error, *states.StepState, *recorder) {
	t.Helper()
	f := newFakeCluster()
	p := testPlan(f, nil, testWave{name: "w", namespaces: map[string][]string{"ns": {"a"}}, gates: []plan.Gate{g}})
	path := statePath(t)
	rec := &recorder{}
	err := New(f, statemgr.NewFileStore(path), rec, opts).Apply(context.Background(), p)
	return err, readState(t, path).Step(gateStep + string(g.Kind)), rec
}

func float(f float64) *float64 { return &f }

// inProcessClient sends every request to h without a socket, so that the
// whole round trip, the handler's waits included, runs on the synctest
// clock (a goroutine blocked on a socket would hold that clock still).
func inProcessClient(h http.Handler) *http.Client {
	return &http.Client{Transport: handlerTransport{h}}
}

type handlerTransport struct{ h http.Handler }

// RoundTrip answers with what the handler wrote, or ends with the request's
// context as a real round trip does.
func (ht handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if r.Body == nil {
		r.Body = http.NoBody
	}
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ht.h.ServeHTTP(w, r)
	}()
	select {
	case <-done:
		resp := w.Result()
		resp.Request = req
		return resp, nil
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

func TestHTTPGate(t *testing.T) {
	var calls atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/healthy":
			fmt.Fprint(w, `{"status": "SERVING"}`)
		case "/flaky": // fails twice, then recovers
			if n%3 != 0 {
				http.Error(w, "warming up", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, "ok")
		case "/slow":
			// A server slower than the gate's timeout is what the
			// "timeout" case tests; the minute is on the fake clock.
			select {
			case <-time.After(time.Minute):
				fmt.Fprint(w, "late")
			case <-r.Context().Done(): // the gate gave up
			}
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		default:
			http.NotFound(w, r)
		}
	})

	cases := map[string]struct {
		gate      config.HTTPGate
		wantErr   string // empty: passes
		wantCalls int32
	}{
		"status ok":               {gate: config.HTTPGate{URL: "/healthy"}, wantCalls: 1},
		"body matches":            {gate: config.HTTPGate{URL: "/healthy", BodyContains: "SERVING"}, wantCalls: 1},
		"body does not match":     {gate: config.HTTPGate{URL: "/healthy", BodyContains: "NOT_SERVING", Attempts: 2}, wantErr: `body does not contain "NOT_SERVING"`, wantCalls: 2},
		"other expected":          {gate: config.HTTPGate{URL: "/teapot", ExpectStatus: http.StatusTeapot}, wantCalls: 1},
		"wrong status":            {gate: config.HTTPGate{URL: "/missing", Attempts: 2}, wantErr: "status 404, want 200", wantCalls: 2},
		"recovers within retries": {gate: config.HTTPGate{URL: "/flaky", Attempts: 3}, wantCalls: 3},
		"retries exhausted":       {gate: config.HTTPGate{URL: "/flaky", Attempts: 2}, wantErr: "2 attempts failed", wantCalls: 2},
		"timeout":                 {gate: config.HTTPGate{URL: "/slow", Attempts: 1, Timeout: 10 * time.Second}, wantErr: "deadline exceeded", wantCalls: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls.Store(0)
				g := tc.gate
				g.URL = gateURL + g.URL
				err, ss, _ := applyGate(t, plan.Gate{Kind: config.GateHTTP, HTTP: &g}, Options{HTTPClient: inProcessClient(handler)})
				checkGate(t, err, ss, tc.wantErr)
				if got := calls.Load(); got != tc.wantCalls {
					t.Errorf("requests: got %d, want %d", got, tc.wantCalls)
				}
			})
		})
	}
}

// checkGate asserts the gate passed (wantErr empty) or failed the wave with
// wantErr.
func checkGate(t *testing.T, err error, ss *states.StepState, wantErr string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if ss.Status != states.StatusDone {
			t.Errorf("gate status %s, want done", ss.Status)
		}
		return
	}
	var wf *WaveFailedError
	if !errors.As(err, &wf) || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("Apply: got %v, want a wave failure containing %q", err, wantErr)
	}
	if ss.Status != states.StatusFailed || !strings.Contains(ss.Error, wantErr) {
		t.Errorf("gate state: %s %q", ss.Status, ss.Error)
	}
}

// promServer answers instant queries the way the Prometheus HTTP API does.
func promServer(t *testing.T, results map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		data, ok := results[r.Form.Get("query")]
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error: unknown query"}`)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":%s}`, data)
	})
}

func TestPrometheusGate(t *testing.T) {
	prom := promServer(t, map[string]string{
		"error_rate": `{"resultType":"vector","result":[
			{"metric":{"__name__":"error_rate","app":"a"},"value":[1700000000,"0.01"]},
			{"metric":{"__name__":"error_rate","app":"b"},"value":[1700000000,"0.04"]}]}`,
		"nothing":    `{"resultType":"vector","result":[]}`,
		"scalar(up)": `{"resultType":"scalar","result":[1700000000,"3"]}`,
		"nan":        `{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"NaN"]}]}`,
		"range":      `{"resultType":"matrix","result":[]}`,
	})
	cases := map[string]struct {
		gate    config.PrometheusGate
		wantErr string
	}{
		"below max":      {gate: config.PrometheusGate{Query: "error_rate", Max: float(0.05)}},
		"above max":      {gate: config.PrometheusGate{Query: "error_rate", Max: float(0.02)}, wantErr: `error_rate{app="b"} = 0.04, above the maximum 0.02`},
		"within min-max": {gate: config.PrometheusGate{Query: "error_rate", Min: float(0), Max: float(1)}},
		"below min":      {gate: config.PrometheusGate{Query: "error_rate", Min: float(0.02)}, wantErr: "below the minimum 0.02"},
		"scalar":         {gate: config.PrometheusGate{Query: "scalar(up)", Min: float(3)}},
		"no samples":     {gate: config.PrometheusGate{Query: "nothing", Max: float(1)}, wantErr: "returned no samples"},
		"NaN":            {gate: config.PrometheusGate{Query: "nan", Max: float(1)}, wantErr: "NaN"},
		"range result":   {gate: config.PrometheusGate{Query: "range", Max: float(1)}, wantErr: "want an instant vector"},
		"query error":    {gate: config.PrometheusGate{Query: "rate(", Max: float(1)}, wantErr: "parse error"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := tc.gate
				g.URL = gateURL
				err, ss, _ := applyGate(t, plan.Gate{Kind: config.GatePrometheus, Prometheus: &g}, Options{HTTPClient: inProcessClient(prom)})
				checkGate(t, err, ss, tc.wantErr)
			})
		})
	}
}

func TestCommandGate(t *testing.T) {
	cases := map[string]struct {
		gate    config.CommandGate
		wantErr string
	}{
		"true":      {gate: config.CommandGate{Argv: []string{"true"}}},
		"false":     {gate: config.CommandGate{Argv: []string{"false"}}, wantErr: "exit status 1"},
		"output":    {gate: config.CommandGate{Argv: []string{"sh", "-c", "echo smoke test failed >&2; exit 3"}}, wantErr: "exit status 3; output: smoke test failed"},
		"timeout":   {gate: config.CommandGate{Argv: []string{"sleep", "5"}, Timeout: 50 * time.Millisecond}, wantErr: "timed out after 50ms"},
		"not found": {gate: config.CommandGate{Argv: []string{"/nonexistent/meshwave-gate"}}, wantErr: "no such file"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := tc.gate
			err, ss, _ := applyGate(t, plan.Gate{Kind: config.GateCommand, Command: &g}, Options{})
			checkGate(t, err, ss, tc.wantErr)
		})
	}
}

// A command gate that times out takes the children it started with it: a
// background process does not outlive the gate, and the gate ends at its
// timeout, not when the child lets go of the output.
func TestCommandGateTimeoutKillsItsChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	g := config.CommandGate{Argv: []string{"sh", "-c", "sleep 600 & echo $! > " + pidFile + "; sleep 600"}, Timeout: 500 * time.Millisecond}
	start := time.Now()
	err, ss, _ := applyGate(t, plan.Gate{Kind: config.GateCommand, Command: &g}, Options{})
	checkGate(t, err, ss, "timed out after 500ms")
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the gate ended %s after it started, want soon after its 500ms timeout", took)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if perr != nil {
		t.Fatal(perr)
	}
	// The child is not this process's to wait for: its end shows only as
	// kill(pid, 0) failing, once init has reaped it.
	gone := func(context.Context) (bool, error) { return syscall.Kill(pid, 0) != nil, nil }
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 2*time.Second, true, gone); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the gate's background child %d still runs 2s after the gate timed out", pid)
	}
}

func TestPauseGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		err, ss, rec := applyGate(t, plan.Gate{Kind: config.GatePause, Pause: 3 * time.Minute}, Options{ProgressInterval: time.Minute})
		checkGate(t, err, ss, "")
		if took := time.Since(start); took < 3*time.Minute {
			t.Errorf("pause took %v, want at least 3m", took)
		}
		var remaining []string
		for _, e := range rec.events {
			if e.Kind == EventStepProgress && strings.Contains(e.Message, "remaining") {
				remaining = append(remaining, e.Message)
			}
		}
		want := []string{"pausing, 3m0s remaining", "pausing, 2m0s remaining", "pausing, 1m0s remaining"}
		if diff := cmp.Diff(want, remaining); diff != "" {
			t.Errorf("progress with the remaining time (-want +got):\n%s", diff)
		}
		if until, err := time.Parse(time.RFC3339Nano, ss.Record[plan.RecordPauseUntil]); err != nil || until.Before(start.Add(3*time.Minute)) {
			t.Errorf("pause end recorded as %q, want 3m after %v", ss.Record[plan.RecordPauseUntil], start)
		}
	})
}

// A pause interrupted half way keeps its recorded end when resumed: it
// waits only for what is left.
func TestPauseGateResumesWithRemainingTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster()
		p := testPlan(f, nil, testWave{name: "w", namespaces: map[string][]string{"ns": {"a"}},
			gates: []plan.Gate{{Kind: config.GatePause, Pause: 10 * time.Minute}}})
		path := statePath(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancelOnPause := ObserverFunc(func(e Event) {
			if e.Kind == EventStepStart && e.StepKind == plan.StepGate {
				time.AfterFunc(4*time.Minute, cancel)
			}
		})
		err := New(f, statemgr.NewFileStore(path), cancelOnPause, Options{}).Apply(ctx, p)
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("Apply: got %v, want ErrInterrupted", err)
		}
		first := readState(t, path).Step(gateStep + "pause")
		if first.Status != states.StatusRunning || first.Record[plan.RecordPauseUntil] == "" {
			t.Fatalf("interrupted pause: %+v", first)
		}
		resumed := time.Now()
		if err := New(f, statemgr.NewFileStore(path), nil, Options{}).Apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		second := readState(t, path).Step(gateStep + "pause")
		if diff := cmp.Diff(first.Record, second.Record); diff != "" {
			t.Errorf("the resumed pause has another end (-first +resumed):\n%s", diff)
		}
		until, _ := time.Parse(time.RFC3339Nano, first.Record[plan.RecordPauseUntil])
		if second.Status != states.StatusDone || second.EndedAt.Before(until) {
			t.Errorf("resumed pause: %s at %v, want done at or after %v", second.Status, second.EndedAt, until)
		}
		if waited := time.Since(resumed); waited > 6*time.Minute {
			t.Errorf("the resumed pause waited %s, want the 6m left of it", waited)
		}
	})
}

type answer struct {
	ok    bool
	asked []string
}

func (a *answer) Approve(_ context.Context, wave string) (bool, error) {
	a.asked = append(a.asked, wave)
	return a.ok, nil
}

func TestApprovalGate(t *testing.T) {
	approval := plan.Gate{Kind: config.GateApproval}

	t.Run("required without prompter or flag", func(t *testing.T) {
		f := newFakeCluster()
		p := testPlan(f, nil,
			testWave{name: "w", namespaces: map[string][]string{"ns": {"a"}}, gates: []plan.Gate{approval}},
			testWave{name: "next", namespaces: map[string][]string{"ns2": {"b"}}})
		path := statePath(t)
		rec := &recorder{}
		err := New(f, statemgr.NewFileStore(path), rec, fastOptions()).Apply(context.Background(), p)
		var ar *ApprovalRequiredError
		if !errors.As(err, &ar) || ar.Wave != "w" {
			t.Fatalf("Apply: got %v, want *ApprovalRequiredError for w", err)
		}
		st := readState(t, path)
		if s := st.Step(gateStep + "approval"); s.Status != states.StatusPending {
			t.Errorf("gate status %s, want pending", s.Status)
		}
		if s := st.Step("wave/next/relabel/ns2"); s.Status != states.StatusPending {
			t.Errorf("next wave started: %s", s.Status)
		}
		if got := rec.kinds(EventApproval); len(got) != 1 || !strings.Contains(rec.events[len(rec.events)-1].Message, "-approve w") {
			t.Errorf("approval event: %v", rec.events[len(rec.events)-1])
		}

		// apply -approve w continues past it.
		opts := fastOptions()
		opts.Approved = []string{"w"}
		if err := New(f, statemgr.NewFileStore(path), nil, opts).Apply(context.Background(), p); err != nil {
			t.Fatalf("Apply -approve w: %v", err)
		}
		st = readState(t, path)
		if diff := cmp.Diff(allStatus(p, states.StatusDone), statuses(st)); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if len(st.Approvals) != 1 || st.Approvals[0].Wave != "w" || st.Approvals[0].By != "flag" {
			t.Errorf("approvals: %+v", st.Approvals)
		}
		if f.rolls["ns/a"] != 1 {
			t.Errorf("the approved wave's workload rolled %d times, want 1", f.rolls["ns/a"])
		}
	})

	t.Run("prompter approves", func(t *testing.T) {
		a := &answer{ok: true}
		err, ss, _ := applyGate(t, approval, Options{Prompter: a})
		checkGate(t, err, ss, "")
		if diff := cmp.Diff([]string{"w"}, a.asked); diff != "" {
			t.Errorf("asked (-want +got):\n%s", diff)
		}
	})

	t.Run("prompter declines", func(t *testing.T) {
		err, ss, _ := applyGate(t, approval, Options{Prompter: &answer{ok: false}})
		checkGate(t, err, ss, "approval declined")
	})

	t.Run("flag wins over prompter", func(t *testing.T) {
		a := &answer{ok: false}
		err, ss, _ := applyGate(t, approval, Options{Prompter: a, Approved: []string{"w"}})
		checkGate(t, err, ss, "")
		if len(a.asked) != 0 {
			t.Errorf("asked though approved by flag: %v", a.asked)
		}
	})
}

// A Prometheus server that errs is asked again; one that keeps erring fails
// the gate after the last attempt.
func TestPrometheusGateRetriesServerErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		failures int
		wantErr  string
		calls    int
	}{
		"recovers":     {failures: 2, calls: 3},
		"keeps erring": {failures: 10, wantErr: "server error", calls: 3},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			prom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				if n <= tc.failures {
					w.WriteHeader(http.StatusServiceUnavailable)
					fmt.Fprint(w, `{"status":"error","errorType":"unavailable","error":"server error: overloaded"}`)
					return
				}
				fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0"]}}`)
			})
			synctest.Test(t, func(t *testing.T) {
				g := config.PrometheusGate{URL: gateURL, Query: "errors", Max: float(1)}
				err, ss, _ := applyGate(t, plan.Gate{Kind: config.GatePrometheus, Prometheus: &g}, Options{HTTPClient: inProcessClient(prom)})
				checkGate(t, err, ss, tc.wantErr)
			})
			mu.Lock()
			defer mu.Unlock()
			if calls != tc.calls {
				t.Errorf("queries = %d, want %d", calls, tc.calls)
			}
		})
	}
}
