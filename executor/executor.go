package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statemgr"
)

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
// transition in a store before and after it happens. It holds configuration
// only: each Apply or Rollback creates a run that holds the state.
//
// The store is statemgr's Persister: Read returns the state,
// statemgr.ErrNoState, or an error that stops the run (an unusable state is
// never replaced). The caller holds the store's lock (statemgr.Locker) for as
// long as it uses an Executor: the executor itself never locks.
type Executor struct {
	provider Provider
	store    statemgr.Persister
	observer Observer
	opts     Options
}

// run is one Apply or Rollback: the state it reads, changes and writes, and
// what it reports. Its steps run on several goroutines; mu guards the state
// and serializes writes of it, emitMu hands the observer one event at a time.
type run struct {
	*Executor

	mu    sync.Mutex
	state *states.State
	// changed holds the steps this run took to done.
	changed map[string]bool
	// followUp is what the plan leaves to manual follow-up: the uninstall
	// waits for it (awaitFollowUp).
	followUp []plan.FollowUp
	// drifted are the steps done earlier that this run found no longer
	// holding and made again (under mu): see redoAfterDrift.
	drifted []plan.Step
	// changes counts the changes made to state (under mu); saves says which
	// of them are written.
	changes uint64
	saves   saves

	emitMu sync.Mutex
}

func (e *Executor) newRun(st *states.State) *run {
	r := &run{Executor: e, state: st, changed: map[string]bool{}}
	r.saves.cond = sync.NewCond(&r.saves.mu)
	return r
}

// New returns an Executor. A nil observer discards events.
func New(provider Provider, store statemgr.Persister, observer Observer, opts Options) *Executor {
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

// load reads the state, starting a new one when there is none.
func (e *Executor) load() (st *states.State, resumed bool, err error) {
	st, err = e.store.Read()
	switch {
	case errors.Is(err, statemgr.ErrNoState):
		return states.New(), false, nil
	case err != nil:
		return nil, false, err
	}
	return st, true, nil
}

// Apply runs p's steps in order. With an existing state it continues where
// the last run stopped: done steps are re-checked cheaply, a step that was
// running runs again with its recorded Record (with a new one when a step
// it depends on no longer held: plan.RedoAfterDrift), failed and
// rolled-back steps run again.
//
// Errors: *InterruptedError when ctx is cancelled, *ApprovalRequiredError,
// *FollowUpRequiredError, *WaveFailedError, *StepError for a step outside waves, *SaveError, or the
// store's error for an unusable state.
func (e *Executor) Apply(ctx context.Context, p *plan.Plan) error {
	st, resumed, err := e.load()
	if err != nil {
		return err
	}
	return e.newRun(st).apply(ctx, p, resumed)
}

func (r *run) apply(ctx context.Context, p *plan.Plan, resumed bool) error {
	start := r.opts.Now()
	previousHash := r.state.PlanHash
	if err := r.update(func() {
		r.state.PlanHash = p.SourceHash
		for _, s := range p.Steps {
			r.state.Ensure(s)
		}
	}); err != nil {
		return err
	}
	msg := "starting"
	if resumed {
		msg = fmt.Sprintf("resuming: %d of %d steps already done", r.doneCount(p), len(p.Steps))
		if previousHash != "" && previousHash != p.SourceHash {
			msg += "; the plan changed since the last apply"
		}
	}
	r.emit(Event{Kind: EventApplyStart, Message: msg})
	r.followUp = p.ManualFollowUp

	byID := make(map[string]plan.Step, len(p.Steps))
	for _, s := range p.Steps {
		byID[s.ID] = s
	}
	for _, ph := range p.Phases {
		if err := r.runPhase(ctx, p, ph, byID); err != nil {
			return err
		}
	}
	r.emit(Event{Kind: EventApplyDone, Elapsed: r.opts.Now().Sub(start), Totals: r.totals(p.Steps)})
	return nil
}

// runPhase runs ph's groups one after another, the steps of a group at the
// same time. A wave reports its start and, once done, its totals and what it
// leaves to be done by hand.
func (r *run) runPhase(ctx context.Context, p *plan.Plan, ph plan.Phase, byID map[string]plan.Step) error {
	start := r.opts.Now()
	if ph.Kind == plan.PhaseWave {
		r.emit(Event{Kind: EventWaveStart, Wave: ph.Wave})
	}
	var all []plan.Step
	for _, g := range ph.Groups {
		steps := make([]plan.Step, len(g))
		for i, id := range g {
			steps[i] = byID[id]
		}
		all = append(all, steps...)
		if err := r.runParallel(ctx, steps, ph.Parallel(), r.runStep); err != nil {
			wf := r.reportStop(ph, err)
			if wf == nil {
				return err
			}
			if p.AutomaticRollback {
				wf.RollbackErr = r.rollback(ctx, p, Scope{Wave: ph.Wave})
				wf.RolledBack = wf.RollbackErr == nil
			}
			return wf
		}
	}
	if ph.Kind != plan.PhaseWave {
		return nil
	}
	fs, err := r.recordFollowUps(p, ph.Wave)
	if err != nil {
		return err
	}
	r.emit(Event{Kind: EventWaveDone, Wave: ph.Wave, Elapsed: r.opts.Now().Sub(start), Totals: r.totals(all),
		ManualFollowUp: fs})
	return nil
}

// reportStop reports why a phase stopped and returns, for a wave's failure
// (not an interruption, an approval still needed or a state that could not
// be saved), the error Apply returns for it; otherwise nil.
func (r *run) reportStop(ph plan.Phase, err error) *WaveFailedError {
	var ie *InterruptedError
	var ar *ApprovalRequiredError
	var fr *FollowUpRequiredError
	var se *SaveError
	switch {
	case errors.As(err, &ie):
		r.emit(Event{Kind: EventInterrupted, Wave: ph.Wave, Error: ie.Cause.Error(),
			Message: "the state records where the run stopped; run apply again to continue"})
		return nil
	case errors.As(err, &ar), errors.As(err, &fr), errors.As(err, &se), ph.Kind != plan.PhaseWave:
		return nil
	}
	r.emit(Event{Kind: EventWaveFailed, Wave: ph.Wave, Error: err.Error()})
	return &WaveFailedError{Wave: ph.Wave, Err: err}
}

// recordFollowUps records in the state what a finished wave leaves to the
// person applying the plan, and returns it.
func (r *run) recordFollowUps(p *plan.Plan, wave string) ([]plan.FollowUp, error) {
	var fs []plan.FollowUp
	for _, f := range p.ManualFollowUp {
		if f.Wave == wave {
			fs = append(fs, f)
		}
	}
	r.mu.Lock()
	same := slices.Equal(r.state.FollowUps(wave), fs)
	r.mu.Unlock()
	if same {
		return fs, nil
	}
	return fs, r.update(func() { r.state.SetFollowUps(wave, fs) })
}

func (r *run) doneCount(p *plan.Plan) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range p.Steps {
		if ss := r.state.Step(s.ID); ss != nil && ss.Status == states.StatusDone {
			n++
		}
	}
	return n
}

// totals counts what happened to steps.
func (r *run) totals(steps []plan.Step) *Totals {
	ids := make([]string, len(steps))
	for i, s := range steps {
		ids[i] = s.ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return totals(r.state, ids, r.changed)
}

// runStep brings one step to done.
func (r *run) runStep(ctx context.Context, s plan.Step) error {
	r.mu.Lock()
	ss := r.state.Step(s.ID)
	status, rec := ss.Status, maps.Clone(ss.Record)
	r.mu.Unlock()

	if s.Action == plan.ActionNoop {
		return r.skip(s, ss, status)
	}
	if status == states.StatusDone {
		holds, err := r.stillHolds(ctx, s, rec)
		if holds || err != nil {
			return err
		}
	}

	if s.Kind == plan.StepGate {
		return r.runGate(ctx, s, ss)
	}
	if s.Kind == plan.StepUninstall {
		if err := r.awaitFollowUp(ctx, s, ss); err != nil {
			return err
		}
	}

	if status == states.StatusRolledBack {
		rec = nil // the rollback consumed it; this is a new change
	}
	if status == states.StatusRunning && r.redoAfterDrift(s) {
		rec = nil
	}
	if rec == nil {
		var err error
		rec, err = r.provider.Prepare(ctx, s)
		if err != nil {
			if ctx.Err() != nil {
				return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
			}
			return r.fail(s, ss, fmt.Errorf("prepare: %w", err))
		}
		if rec == nil {
			rec = Record{}
		}
	}
	start, err := r.markRunning(s, ss, rec)
	if err != nil {
		return err
	}
	stop := r.heartbeat(s, start)
	err = r.provider.Run(ctx, s, rec, r.progress(s, start))
	stop()
	if err != nil {
		if ctx.Err() != nil {
			// Leave it running: the next apply runs it again with rec.
			return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
		}
		return r.fail(s, ss, err)
	}
	return r.succeed(s, ss, start)
}

// skip records a no-op step as done without reaching the provider.
func (r *run) skip(s plan.Step, ss *states.StepState, status states.Status) error {
	if status != states.StatusDone {
		if err := r.update(func() {
			now := r.opts.Now()
			ss.Status, ss.StartedAt, ss.EndedAt, ss.Error = states.StatusDone, now, now, ""
		}); err != nil {
			return err
		}
	}
	ev := stepEvent(EventStepSkipped, s)
	ev.Message = s.Reason
	r.emit(ev)
	return nil
}

// stillHolds verifies a step done in an earlier run. A gate that passed is
// not run again. A step that no longer holds is reported as drifted, and
// runs again with the same Record, which re-sends the same change.
func (r *run) stillHolds(ctx context.Context, s plan.Step, rec Record) (bool, error) {
	if s.Kind == plan.StepGate {
		ev := stepEvent(EventStepVerified, s)
		ev.Message = "passed in an earlier run"
		r.emit(ev)
		return true, nil
	}
	err := r.provider.Verify(ctx, s, rec)
	if err == nil {
		r.emit(stepEvent(EventStepVerified, s))
		return true, nil
	}
	if ctx.Err() != nil {
		return false, &InterruptedError{Cause: ctx.Err()}
	}
	ev := stepEvent(EventStepDrifted, s)
	ev.Error = err.Error()
	r.emit(ev)
	r.mu.Lock()
	r.drifted = append(r.drifted, s)
	r.mu.Unlock()
	return false, nil
}

// redoAfterDrift reports whether step s, left running by an earlier run,
// must make its change anew rather than re-send its Record, because a step
// it depends on was found drifted in this run (plan.RedoAfterDrift); it
// reports the step as drifted, with why.
func (r *run) redoAfterDrift(s plan.Step) bool {
	r.mu.Lock()
	drifted := slices.Clone(r.drifted)
	r.mu.Unlock()
	for _, d := range drifted {
		if why := plan.RedoAfterDrift(s, d); why != "" {
			ev := stepEvent(EventStepDrifted, s)
			ev.Error = why
			r.emit(ev)
			return true
		}
	}
	return false
}

// markRunning records, before anything changes, that s runs with rec, and
// reports it; it returns the step's start time.
func (r *run) markRunning(s plan.Step, ss *states.StepState, rec Record) (time.Time, error) {
	start := r.opts.Now()
	if err := r.update(func() {
		ss.Status, ss.Record, ss.StartedAt, ss.EndedAt, ss.Error = states.StatusRunning, maps.Clone(rec), start, time.Time{}, ""
		ss.Attempts++
	}); err != nil {
		return time.Time{}, err
	}
	r.emit(stepEvent(EventStepStart, s))
	return start, nil
}

func (r *run) fail(s plan.Step, ss *states.StepState, err error) error {
	if werr := r.update(func() {
		ss.Status, ss.EndedAt, ss.Error = states.StatusFailed, r.opts.Now(), err.Error()
	}); werr != nil {
		return werr
	}
	ev := stepEvent(EventStepFailed, s)
	ev.Error = err.Error()
	r.emit(ev)
	return &StepError{StepID: s.ID, Err: err}
}

func (r *run) succeed(s plan.Step, ss *states.StepState, start time.Time) error {
	now := r.opts.Now()
	if err := r.update(func() {
		ss.Status, ss.EndedAt, ss.Error = states.StatusDone, now, ""
		r.changed[s.ID] = true
	}); err != nil {
		return err
	}
	ev := stepEvent(EventStepDone, s)
	ev.Elapsed = now.Sub(start)
	r.emit(ev)
	return nil
}

// awaitFollowUp stops the run before the uninstall of a plan that left
// workloads to manual follow-up, while the old revision is still used: the
// run is not finished rather than failed, as at an approval gate. The step
// stays pending with the reason, the event says what still uses the
// revision, and applying again once it is moved uninstalls. A plan without
// follow-up goes on to the uninstall, whose own re-check fails the step if
// something unexpected uses the revision.
func (r *run) awaitFollowUp(ctx context.Context, s plan.Step, ss *states.StepState) error {
	reader, ok := r.provider.(UsersReader)
	if len(r.followUp) == 0 || !ok {
		return nil
	}
	users, err := reader.RevisionUsers(ctx, s.FromRevision)
	if err != nil {
		if ctx.Err() != nil {
			return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
		}
		return r.fail(s, ss, err)
	}
	if len(users) == 0 {
		return nil
	}
	if err := r.update(func() {
		ss.Status, ss.Error = states.StatusPending, "waiting for the manual follow-up"
	}); err != nil {
		return err
	}
	moves := make([]string, len(r.followUp))
	for i, f := range r.followUp {
		moves[i] = fmt.Sprintf("%s %s/%s (%s)", f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Manual)
	}
	ev := stepEvent(EventFollowUpRequired, s)
	ev.Message = fmt.Sprintf("the uninstall of %s waits: still used by %s. Move the manual follow-up by hand: %s; then run apply again to uninstall",
		s.FromRevision, strings.Join(users, ", "), strings.Join(moves, "; "))
	r.emit(ev)
	return &FollowUpRequiredError{StepID: s.ID, Revision: s.FromRevision, Users: users}
}
