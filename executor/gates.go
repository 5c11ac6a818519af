package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/states"
)

// Gate defaults the plan language does not set, used where the plan leaves
// a field zero; the others are plan's (plan.DefaultHTTPExpectStatus, ...).
const (
	defaultPrometheusLimit = 30 * time.Second
	// prometheusAttempts bounds the queries of one prometheus gate when the
	// server errs.
	prometheusAttempts = 3
)

// runGate runs a gate step. Gates never reach the Provider.
func (r *run) runGate(ctx context.Context, s plan.Step, ss *states.StepState) error {
	g := s.Gate
	if g == nil {
		return r.fail(s, ss, errors.New("gate step without a gate"))
	}
	if g.Kind == config.GateApproval && !r.approved(s.Wave) && r.opts.Prompter == nil {
		if err := r.update(func() {
			ss.Status, ss.Error = states.StatusPending, "waiting for approval"
		}); err != nil {
			return err
		}
		ev := stepEvent(EventApproval, s)
		ev.Message = fmt.Sprintf("wave %q needs approval: run apply again with -approve %s", s.Wave, s.Wave)
		r.emit(ev)
		return &ApprovalRequiredError{Wave: s.Wave, StepID: s.ID}
	}

	rec := maps.Clone(ss.Record)
	if ss.Status == states.StatusRolledBack || rec == nil {
		rec = Record{}
	}
	if g.Kind == config.GatePause && rec[plan.RecordPauseUntil] == "" {
		rec[plan.RecordPauseUntil] = r.opts.Now().Add(g.Pause).UTC().Format(time.RFC3339Nano)
	}
	start, err := r.markRunning(s, ss, rec)
	if err != nil {
		return err
	}
	progress := r.progress(s, start)

	switch g.Kind {
	case config.GatePause:
		err = r.pause(ctx, rec, progress)
	case config.GateApproval:
		err = r.approve(ctx, s.Wave)
	case config.GateHTTP:
		err = r.httpGate(ctx, g.HTTP, progress)
	case config.GatePrometheus:
		err = r.prometheusGate(ctx, g.Prometheus)
	case config.GateCommand:
		err = commandGate(ctx, g.Command)
	default:
		err = fmt.Errorf("unknown gate kind %q", g.Kind)
	}
	if err != nil {
		if ctx.Err() != nil {
			return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
		}
		return r.fail(s, ss, fmt.Errorf("%s gate: %w", g.Kind, err))
	}
	return r.succeed(s, ss, start)
}

func (r *run) approved(wave string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state.Approved(wave) || slices.Contains(r.opts.Approved, wave)
}

// approve passes when wave is approved already, on the command line, or by
// the prompter, and records the approval.
func (r *run) approve(ctx context.Context, wave string) error {
	r.mu.Lock()
	inState := r.state.Approved(wave)
	r.mu.Unlock()
	if inState {
		return nil
	}
	by := "flag"
	if !slices.Contains(r.opts.Approved, wave) {
		ok, err := r.opts.Prompter.Approve(ctx, wave)
		if err != nil {
			return fmt.Errorf("ask for approval: %w", err)
		}
		if !ok {
			return errors.New("approval declined")
		}
		by = "prompt"
	}
	return r.update(func() { r.state.Approve(wave, by, r.opts.Now().UTC()) })
}

// pause waits until the recorded end of the pause, reporting what is left.
func (e *Executor) pause(ctx context.Context, rec Record, progress Progress) error {
	until, err := time.Parse(time.RFC3339Nano, rec[plan.RecordPauseUntil])
	if err != nil {
		return fmt.Errorf("recorded %s: %w", plan.RecordPauseUntil, err)
	}
	for {
		left := until.Sub(e.opts.Now())
		if left <= 0 {
			return nil
		}
		progress(fmt.Sprintf("pausing, %s remaining", left.Round(time.Second)))
		t := time.NewTimer(min(left, e.opts.ProgressInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// httpGate passes when a GET answers the expected status (and body) within
// the allowed attempts.
func (e *Executor) httpGate(ctx context.Context, g *config.HTTPGate, progress Progress) error {
	if g == nil {
		return errors.New("no http settings")
	}
	want := orDefault(g.ExpectStatus, config.DefaultHTTPExpectStatus)
	attempts := orDefault(g.Attempts, config.DefaultHTTPAttempts)
	interval := orDefault(g.Interval, config.DefaultHTTPInterval)
	timeout := orDefault(g.Timeout, config.DefaultHTTPTimeout)
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		if last = e.httpOnce(ctx, g, want, timeout); last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt == attempts {
			break
		}
		progress(fmt.Sprintf("attempt %d of %d failed: %v", attempt, attempts, last))
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Errorf("GET %s: %d attempts failed, last: %w", g.URL, attempts, last)
}

func (e *Executor) httpOnce(ctx context.Context, g *config.HTTPGate, want int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL, nil)
	if err != nil {
		return err
	}
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, want)
	}
	if g.BodyContains != "" && !strings.Contains(string(body), g.BodyContains) {
		return fmt.Errorf("body does not contain %q", g.BodyContains)
	}
	return nil
}

// prometheusGate passes when every sample of an instant query is within the
// gate's bounds. A query without samples fails: no data is not good news.
func (e *Executor) prometheusGate(ctx context.Context, g *config.PrometheusGate) error {
	if g == nil {
		return errors.New("no prometheus settings")
	}
	client, err := api.NewClient(api.Config{Address: g.URL, Client: e.opts.HTTPClient})
	if err != nil {
		return err
	}
	// A server that is briefly unreachable or overloaded must not fail the
	// wave (and roll it back): such errors are retried. A query Prometheus
	// rejects, or a threshold it breaks, fails at once.
	var val model.Value
	for attempt := 1; ; attempt++ {
		qctx, cancel := context.WithTimeout(ctx, defaultPrometheusLimit)
		val, _, _, err = promv1.NewAPI(client).Query(qctx, g.Query, e.opts.Now())
		cancel()
		var perr *promv1.Error
		if err == nil || attempt == prometheusAttempts || (errors.As(err, &perr) && perr.Type == promv1.ErrBadData) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.opts.GateRetryInterval):
		}
	}
	if err != nil {
		return fmt.Errorf("query %q: %w", g.Query, err)
	}
	var samples []float64
	var names []string
	switch v := val.(type) {
	case model.Vector:
		for _, s := range v {
			samples, names = append(samples, float64(s.Value)), append(names, s.Metric.String())
		}
	case *model.Scalar:
		samples, names = append(samples, float64(v.Value)), append(names, "scalar")
	default:
		return fmt.Errorf("query %q returned a %s, want an instant vector or a scalar", g.Query, val.Type())
	}
	if len(samples) == 0 {
		return fmt.Errorf("query %q returned no samples", g.Query)
	}
	for i, x := range samples {
		switch {
		case math.IsNaN(x):
			return fmt.Errorf("%s = NaN", names[i])
		case g.Min != nil && x < *g.Min:
			return fmt.Errorf("%s = %g, below the minimum %g", names[i], x, *g.Min)
		case g.Max != nil && x > *g.Max:
			return fmt.Errorf("%s = %g, above the maximum %g", names[i], x, *g.Max)
		}
	}
	return nil
}

// commandGate passes when the command exits 0 within its timeout.
func commandGate(ctx context.Context, g *config.CommandGate) error {
	if g == nil || len(g.Argv) == 0 {
		return errors.New("no command")
	}
	timeout := orDefault(g.Timeout, config.DefaultCommandGateTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.Argv[0], g.Argv[1:]...)
	// The command leads a process group of its own, and a timeout or an
	// interrupt kills the whole group: a child it started in the background
	// does not outlive the gate (nor hold the terminal or a lock it
	// inherited).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	if tail := lastBytes(out.Bytes(), 500); tail != "" {
		return fmt.Errorf("%s: %w; output: %s", strings.Join(g.Argv, " "), err, tail)
	}
	return fmt.Errorf("%s: %w", strings.Join(g.Argv, " "), err)
}

func lastBytes(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = append([]byte("..."), b[len(b)-n:]...)
	}
	return string(b)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
