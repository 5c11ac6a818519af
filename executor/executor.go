package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statemgr"
)

// Store is where the executor keeps the state. The caller holds the store's
// lock (statemgr.Locker) for as long as it uses an Executor: the executor
// itself never locks.
type Store interface {
	// Read returns the state, statemgr.ErrNoState, or an error that stops
	// the run (an unusable state is never replaced).
	Read() (*states.State, error)
	// Write stores the state durably, bumping its serial.
	Write(*states.State) error
}

var _ Store = (*statemgr.FileStore)(nil)

// Prompter asks a person to approve a wave. cmd implements it when standard
// input is a terminal.
type Prompter interface {
	// Approve returns true when the person approves wave.
	Approve(ctx context.Context, wave string) (bool, error)
}

// Options tune an Executor.
type Options struct {
	// Approved are the waves approved on the command line (-approve WAVE).
	Approved []string
	// Prompter asks for approvals; nil when nobody can be asked, and an
	// approval gate then stops the run with *ApprovalRequiredError.
	Prompter Prompter
	// ProgressInterval is how often a running step reports it is still
	// running; default 10s.
	ProgressInterval time.Duration
	// GateRetryInterval is the wait between attempts of a prometheus gate
	// whose server errs; default 5s.
	GateRetryInterval time.Duration
	// HTTPClient runs http and prometheus gates; default http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Executor runs a plan's steps against a Provider, recording every step
// transition in a Store before and after it happens.
type Executor struct {
	provider Provider
	store    Store
	observer Observer
	opts     Options

	// mu guards state and serializes writes of it.
	mu    sync.Mutex
	state *states.State
	// changed holds the steps this run took to done.
	changed map[string]bool

	emitMu sync.Mutex
}

// New returns an Executor. A nil observer discards events.
func New(provider Provider, store Store, observer Observer, opts Options) *Executor {
	if observer == nil {
		observer = Discard
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 10 * time.Second
	}
	if opts.GateRetryInterval <= 0 {
		opts.GateRetryInterval = 5 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Executor{provider: provider, store: store, observer: observer, opts: opts}
}

func (e *Executor) emit(ev Event) {
	ev.Time = e.opts.Now()
	e.emitMu.Lock()
	defer e.emitMu.Unlock()
	e.observer.Observe(ev)
}

func stepEvent(kind EventKind, s plan.Step) Event {
	return Event{Kind: kind, StepID: s.ID, StepKind: s.Kind, Wave: s.Wave, Object: objectName(s.Object)}
}

func objectName(o *plan.ObjectRef) string {
	switch {
	case o == nil:
		return ""
	case o.Namespace == "":
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

// update changes the state under the lock and writes it.
func (e *Executor) update(fn func()) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn()
	if err := e.store.Write(e.state); err != nil {
		return &SaveError{Err: err}
	}
	return nil
}

// load reads the state, starting a new one when there is none.
func (e *Executor) load() (resumed bool, err error) {
	st, err := e.store.Read()
	switch {
	case errors.Is(err, statemgr.ErrNoState):
		st = states.New()
	case err != nil:
		return false, err
	default:
		resumed = true
	}
	e.state, e.changed = st, map[string]bool{}
	return resumed, nil
}

// Apply runs p's steps in order. With an existing state it continues where
// the last run stopped: done steps are re-checked cheaply, a step that was
// running runs again with its recorded Record, failed and rolled-back steps
// run again.
//
// Errors: *InterruptedError when ctx is cancelled, *ApprovalRequiredError,
// *WaveFailedError, *StepError for a step outside waves, *SaveError, or the
// Store's error for an unusable state.
func (e *Executor) Apply(ctx context.Context, p *plan.Plan) error {
	resumed, err := e.load()
	if err != nil {
		return err
	}
	start := e.opts.Now()
	previousHash := e.state.PlanHash
	if err := e.update(func() {
		e.state.PlanHash = p.SourceHash
		for _, s := range p.Steps {
			e.state.Ensure(s)
		}
	}); err != nil {
		return err
	}
	msg := "starting"
	if resumed {
		msg = fmt.Sprintf("resuming: %d of %d steps already done", e.doneCount(p), len(p.Steps))
		if previousHash != "" && previousHash != p.SourceHash {
			msg += "; the plan changed since the last apply"
		}
	}
	e.emit(Event{Kind: EventApplyStart, Message: msg})

	byID := make(map[string]plan.Step, len(p.Steps))
	for _, s := range p.Steps {
		byID[s.ID] = s
	}
	for _, ph := range p.Phases {
		if err := e.runPhase(ctx, p, ph, byID); err != nil {
			return err
		}
	}
	e.emit(Event{Kind: EventApplyDone, Elapsed: e.opts.Now().Sub(start), Totals: e.totals(p.Steps)})
	return nil
}

// runPhase runs ph's groups one after another, the steps of a group at the
// same time. A wave reports its start and, once done, its totals and what it
// leaves to be done by hand.
func (e *Executor) runPhase(ctx context.Context, p *plan.Plan, ph plan.Phase, byID map[string]plan.Step) error {
	start := e.opts.Now()
	if ph.Kind == plan.PhaseWave {
		e.emit(Event{Kind: EventWaveStart, Wave: ph.Wave})
	}
	var all []plan.Step
	for _, g := range ph.Groups {
		steps := make([]plan.Step, len(g))
		for i, id := range g {
			steps[i] = byID[id]
		}
		all = append(all, steps...)
		if err := e.runParallel(ctx, steps, ph.Parallel(), e.runStep); err != nil {
			wf := e.reportStop(ph, err)
			if wf == nil {
				return err
			}
			if p.AutomaticRollback {
				wf.RollbackErr = e.rollback(ctx, p, Scope{Wave: ph.Wave})
				wf.RolledBack = wf.RollbackErr == nil
			}
			return wf
		}
	}
	if ph.Kind != plan.PhaseWave {
		return nil
	}
	fs, err := e.recordFollowUps(p, ph.Wave)
	if err != nil {
		return err
	}
	e.emit(Event{Kind: EventWaveDone, Wave: ph.Wave, Elapsed: e.opts.Now().Sub(start), Totals: e.totals(all),
		ManualFollowUp: fs})
	return nil
}

// reportStop reports why a phase stopped and returns, for a wave's failure
// (not an interruption, an approval still needed or a state that could not
// be saved), the error Apply returns for it; otherwise nil.
func (e *Executor) reportStop(ph plan.Phase, err error) *WaveFailedError {
	var ie *InterruptedError
	var ar *ApprovalRequiredError
	var se *SaveError
	switch {
	case errors.As(err, &ie):
		e.emit(Event{Kind: EventInterrupted, Wave: ph.Wave, Error: ie.Cause.Error(),
			Message: "the state records where the run stopped; run apply again to continue"})
		return nil
	case errors.As(err, &ar), errors.As(err, &se), ph.Kind != plan.PhaseWave:
		return nil
	}
	e.emit(Event{Kind: EventWaveFailed, Wave: ph.Wave, Error: err.Error()})
	return &WaveFailedError{Wave: ph.Wave, Err: err}
}

// recordFollowUps records in the state what a finished wave leaves to the
// person applying the plan, and returns it.
func (e *Executor) recordFollowUps(p *plan.Plan, wave string) ([]plan.FollowUp, error) {
	var fs []plan.FollowUp
	for _, f := range p.ManualFollowUp {
		if f.Wave == wave {
			fs = append(fs, f)
		}
	}
	e.mu.Lock()
	same := slices.Equal(e.state.FollowUps(wave), fs)
	e.mu.Unlock()
	if same {
		return fs, nil
	}
	return fs, e.update(func() { e.state.SetFollowUps(wave, fs) })
}

func (e *Executor) doneCount(p *plan.Plan) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range p.Steps {
		if ss := e.state.Step(s.ID); ss != nil && ss.Status == states.StatusDone {
			n++
		}
	}
	return n
}

// totals counts what happened to steps.
func (e *Executor) totals(steps []plan.Step) *Totals {
	ids := make([]string, len(steps))
	for i, s := range steps {
		ids[i] = s.ID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return totals(e.state, ids, e.changed)
}

// runParallel runs fn for steps, at most limit at once. After a failure no
// further step starts; those already started finish. The first error wins,
// except that an interruption is reported as such.
func (e *Executor) runParallel(ctx context.Context, steps []plan.Step, limit int, fn func(context.Context, plan.Step) error) error {
	if len(steps) <= 1 || limit <= 1 {
		for _, s := range steps {
			if err := fn(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		failed bool
	)
	sem := make(chan struct{}, limit)
	for _, s := range steps {
		sem <- struct{}{}
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop || ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, s); err != nil {
				mu.Lock()
				errs, failed = append(errs, err), true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		return &InterruptedError{Cause: ctx.Err()}
	}
	return firstError(errs)
}

// firstError prefers an interruption or a save failure, which stop
// everything, over a step's failure.
func firstError(errs []error) error {
	var ie *InterruptedError
	running := []string{}
	for _, err := range errs {
		if errors.As(err, &ie) {
			running = append(running, ie.Steps...)
		}
	}
	for _, err := range errs {
		var se *SaveError
		if errors.As(err, &se) {
			return err
		}
	}
	for _, err := range errs {
		if errors.As(err, &ie) {
			return &InterruptedError{Steps: running, Cause: ie.Cause}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

// runStep brings one step to done.
func (e *Executor) runStep(ctx context.Context, s plan.Step) error {
	e.mu.Lock()
	ss := e.state.Step(s.ID)
	status, rec := ss.Status, maps.Clone(ss.Record)
	e.mu.Unlock()

	if s.Action == plan.ActionNoop {
		return e.skip(s, ss, status)
	}
	if status == states.StatusDone {
		holds, err := e.stillHolds(ctx, s, rec)
		if holds || err != nil {
			return err
		}
	}

	if s.Kind == plan.StepGate {
		return e.runGate(ctx, s, ss)
	}

	if status == states.StatusRolledBack {
		rec = nil // the rollback consumed it; this is a new change
	}
	if rec == nil {
		var err error
		rec, err = e.provider.Prepare(ctx, s)
		if err != nil {
			if ctx.Err() != nil {
				return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
			}
			return e.fail(s, ss, fmt.Errorf("prepare: %w", err))
		}
		if rec == nil {
			rec = Record{}
		}
	}
	start, err := e.markRunning(s, ss, rec)
	if err != nil {
		return err
	}
	stop := e.heartbeat(s, start)
	err = e.provider.Run(ctx, s, rec, e.progress(s, start))
	stop()
	if err != nil {
		if ctx.Err() != nil {
			// Leave it running: the next apply runs it again with rec.
			return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
		}
		return e.fail(s, ss, err)
	}
	return e.succeed(s, ss, start)
}

// skip records a no-op step as done without reaching the provider.
func (e *Executor) skip(s plan.Step, ss *states.StepState, status states.Status) error {
	if status != states.StatusDone {
		if err := e.update(func() {
			now := e.opts.Now()
			ss.Status, ss.StartedAt, ss.EndedAt, ss.Error = states.StatusDone, now, now, ""
		}); err != nil {
			return err
		}
	}
	ev := stepEvent(EventStepSkipped, s)
	ev.Message = s.Reason
	e.emit(ev)
	return nil
}

// stillHolds verifies a step done in an earlier run. A gate that passed is
// not run again. A step that no longer holds is reported as drifted, and
// runs again with the same Record, which re-sends the same change.
func (e *Executor) stillHolds(ctx context.Context, s plan.Step, rec Record) (bool, error) {
	if s.Kind == plan.StepGate {
		ev := stepEvent(EventStepVerified, s)
		ev.Message = "passed in an earlier run"
		e.emit(ev)
		return true, nil
	}
	err := e.provider.Verify(ctx, s, rec)
	if err == nil {
		e.emit(stepEvent(EventStepVerified, s))
		return true, nil
	}
	if ctx.Err() != nil {
		return false, &InterruptedError{Cause: ctx.Err()}
	}
	ev := stepEvent(EventStepDrifted, s)
	ev.Error = err.Error()
	e.emit(ev)
	return false, nil
}

// markRunning records, before anything changes, that s runs with rec, and
// reports it; it returns the step's start time.
func (e *Executor) markRunning(s plan.Step, ss *states.StepState, rec Record) (time.Time, error) {
	start := e.opts.Now()
	if err := e.update(func() {
		ss.Status, ss.Record, ss.StartedAt, ss.EndedAt, ss.Error = states.StatusRunning, maps.Clone(rec), start, time.Time{}, ""
		ss.Attempts++
	}); err != nil {
		return time.Time{}, err
	}
	e.emit(stepEvent(EventStepStart, s))
	return start, nil
}

func (e *Executor) fail(s plan.Step, ss *states.StepState, err error) error {
	if werr := e.update(func() {
		ss.Status, ss.EndedAt, ss.Error = states.StatusFailed, e.opts.Now(), err.Error()
	}); werr != nil {
		return werr
	}
	ev := stepEvent(EventStepFailed, s)
	ev.Error = err.Error()
	e.emit(ev)
	return &StepError{StepID: s.ID, Err: err}
}

func (e *Executor) succeed(s plan.Step, ss *states.StepState, start time.Time) error {
	now := e.opts.Now()
	if err := e.update(func() {
		ss.Status, ss.EndedAt, ss.Error = states.StatusDone, now, ""
		e.changed[s.ID] = true
	}); err != nil {
		return err
	}
	ev := stepEvent(EventStepDone, s)
	ev.Elapsed = now.Sub(start)
	e.emit(ev)
	return nil
}

// progress turns a provider's progress messages into events.
func (e *Executor) progress(s plan.Step, start time.Time) Progress {
	return func(msg string) {
		ev := stepEvent(EventStepProgress, s)
		ev.Message, ev.Elapsed = msg, e.opts.Now().Sub(start)
		e.emit(ev)
	}
}

// heartbeat reports every ProgressInterval that s is still running, until
// the returned stop is called.
func (e *Executor) heartbeat(s plan.Step, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(e.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ev := stepEvent(EventStepProgress, s)
				ev.Message, ev.Elapsed = "still running", e.opts.Now().Sub(start)
				e.emit(ev)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
