package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statemgr"
)

// Selector picks what a manual rollback reverses. Both empty: the revision
// tags, then every wave, last first, then the gateways.
type Selector struct {
	Wave      string
	Namespace string
}

func (s Selector) String() string {
	switch {
	case s.Wave != "":
		return "wave " + s.Wave
	case s.Namespace != "":
		return "namespace " + s.Namespace
	}
	return "everything"
}

// Rollback reverses the selected steps that changed the cluster, using the
// Records saved when they ran: namespaces get their original labels back,
// workloads are restarted onto the source revision and verified there,
// gateways return to their recorded control plane. Reversed steps become
// rolled-back, and a later apply runs them again.
//
// p supplies the steps' definitions; a step the state knows but p does not
// is reversed from what the state recorded about it.
func (e *Executor) Rollback(ctx context.Context, p *plan.Plan, sel Selector) error {
	if sel.Wave != "" && sel.Namespace != "" {
		return errors.New("rollback: select a wave or a namespace, not both")
	}
	st, err := e.store.Read()
	if errors.Is(err, statemgr.ErrNoState) {
		return errors.New("rollback: there is no state, so nothing was applied to roll back")
	}
	if err != nil {
		return err
	}
	e.state, e.changed = st, map[string]bool{}
	return e.rollback(ctx, p, sel)
}

// rollback reverses the selection in e.state.
func (e *Executor) rollback(ctx context.Context, p *plan.Plan, sel Selector) error {
	defs := e.definitions(p)
	var waves []string
	for _, s := range defs {
		if s.Wave != "" && !slices.Contains(waves, s.Wave) && sel.matchesWave(s) {
			waves = append(waves, s.Wave)
		}
	}
	if len(waves) == 0 && (sel.Wave != "" || sel.Namespace != "") {
		return fmt.Errorf("rollback: %s is not in the state", sel)
	}
	if sel.Wave == "" && sel.Namespace == "" {
		for _, s := range defs {
			if s.Kind == plan.StepUninstall && e.needsUndo(s.ID) {
				return fmt.Errorf("rollback: the source control plane was uninstalled (step %s); nothing is left to roll back to", s.ID)
			}
		}
	}
	if sel.Wave == "" && sel.Namespace == "" {
		// Tags go back first: a restarted pod of a namespace that follows
		// a tag is injected by whatever the tag points at when it starts.
		if err := e.undoOutsideWaves(ctx, defs, plan.StepTagMove, "revision tags"); err != nil {
			return err
		}
	}
	slices.Reverse(waves)
	for _, w := range waves {
		if err := e.undoWave(ctx, w, defs, sel.Namespace); err != nil {
			return err
		}
	}
	if sel.Wave == "" && sel.Namespace == "" {
		return e.undoOutsideWaves(ctx, defs, plan.StepGatewayMigrate, "gateways")
	}
	return nil
}

// undoOutsideWaves reverses, last first, the steps of one kind that run
// before the waves (tag moves, gateway moves).
func (e *Executor) undoOutsideWaves(ctx context.Context, defs []plan.Step, kind plan.StepKind, what string) error {
	var steps []plan.Step
	for _, s := range defs {
		if s.Kind == kind && e.needsUndo(s.ID) {
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return nil
	}
	e.emit(Event{Kind: EventRollbackStart, Message: what})
	slices.Reverse(steps)
	for _, s := range steps {
		if err := e.undoStep(ctx, s); err != nil {
			return err
		}
	}
	e.emit(Event{Kind: EventRollbackDone, Message: what})
	return nil
}

// matchesWave reports whether s's wave is selected.
func (sel Selector) matchesWave(s plan.Step) bool {
	switch {
	case sel.Wave != "":
		return s.Wave == sel.Wave
	case sel.Namespace != "":
		return sel.touches(s)
	}
	return true
}

// touches reports whether s changes sel's namespace.
func (sel Selector) touches(s plan.Step) bool {
	if sel.Namespace == "" {
		return true
	}
	switch s.Kind {
	case plan.StepNamespaceRelabel:
		return s.Object != nil && s.Object.Name == sel.Namespace
	case plan.StepWorkloadRestart:
		return s.Object != nil && s.Object.Namespace == sel.Namespace
	}
	return false
}

// definitions returns a step definition for every step in the state, in the
// state's order: p's when p has it, else what the state recorded.
func (e *Executor) definitions(p *plan.Plan) []plan.Step {
	byID := map[string]plan.Step{}
	for _, s := range p.Steps {
		byID[s.ID] = s
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var defs []plan.Step
	for _, ss := range e.state.Steps {
		s, ok := byID[ss.ID]
		if !ok {
			s = plan.Step{ID: ss.ID, Kind: ss.Kind, Wave: ss.Wave, Object: ss.Object}
		}
		defs = append(defs, s)
	}
	return defs
}

// needsUndo reports whether step id may have changed the cluster: it is
// done, or it failed or stopped after recording what it would change.
func (e *Executor) needsUndo(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ss := e.state.Step(id)
	if ss == nil {
		return false
	}
	switch ss.Status {
	case states.StatusDone:
		return true
	case states.StatusFailed, states.StatusRunning:
		return len(ss.Record) > 0
	}
	return false
}

// undoWave reverses wave (only ns, when set): labels first, so restarted
// pods are injected by the source control plane, then restarts, then the
// wave's wait and verify on the source revision.
func (e *Executor) undoWave(ctx context.Context, wave string, defs []plan.Step, ns string) error {
	sel := Selector{Namespace: ns}
	var relabels, restarts, checks, gates []plan.Step
	for _, s := range defs {
		if s.Wave != wave {
			continue
		}
		switch s.Kind {
		case plan.StepNamespaceRelabel:
			if sel.touches(s) && e.needsUndo(s.ID) {
				relabels = append(relabels, s)
			}
		case plan.StepWorkloadRestart:
			if sel.touches(s) && e.needsUndo(s.ID) {
				restarts = append(restarts, s)
			}
		case plan.StepWaveWait, plan.StepWaveVerify:
			checks = append(checks, narrow(s, ns))
		case plan.StepGate:
			gates = append(gates, s)
		}
	}
	e.emit(Event{Kind: EventRollbackStart, Wave: wave, Message: sel.String()})
	start := e.opts.Now()
	slices.Reverse(relabels)
	for _, s := range relabels {
		if err := e.undoStep(ctx, s); err != nil {
			return err
		}
	}
	if len(restarts) > 0 {
		if err := e.runParallel(ctx, restarts, e.undoStep); err != nil {
			return err
		}
	}
	if len(relabels)+len(restarts) > 0 {
		for _, s := range checks {
			if err := e.undoStep(ctx, s); err != nil {
				return err
			}
		}
	}
	// The wave's checks and gates passed for the target revision; after the
	// rollback they must run again before the wave counts as done.
	if err := e.update(func() {
		for _, s := range append(checks, gates...) {
			ss := e.state.Step(s.ID)
			if ss != nil && ss.Status != states.StatusPending {
				ss.Status, ss.Error = states.StatusRolledBack, ""
			}
		}
		if ns == "" {
			e.state.Revoke(wave)
		}
		// Back on the source, nothing there is left to move by hand.
		var kept []plan.FollowUp
		for _, f := range e.state.FollowUps(wave) {
			if ns != "" && f.Object.Namespace != ns {
				kept = append(kept, f)
			}
		}
		e.state.SetFollowUps(wave, kept)
	}); err != nil {
		return err
	}
	e.emit(Event{Kind: EventRollbackDone, Wave: wave, Message: sel.String(), Elapsed: e.opts.Now().Sub(start)})
	return nil
}

// narrow limits a wave-wide check to one namespace.
func narrow(s plan.Step, ns string) plan.Step {
	if ns == "" {
		return s
	}
	s.Namespaces = []string{ns}
	var wl []plan.ObjectRef
	for _, w := range s.Workloads {
		if w.Namespace == ns {
			wl = append(wl, w)
		}
	}
	s.Workloads = wl
	return s
}

// undoStep reverses one step with its Record, saving the undo time first.
func (e *Executor) undoStep(ctx context.Context, s plan.Step) error {
	e.mu.Lock()
	ss := e.state.Step(s.ID)
	rec := maps.Clone(ss.Record)
	e.mu.Unlock()
	if rec == nil {
		rec = Record{}
	}
	if rec[plan.RecordUndoAt] == "" {
		rec[plan.RecordUndoAt] = e.opts.Now().UTC().Format(time.RFC3339Nano)
		if err := e.update(func() { ss.Record = maps.Clone(rec) }); err != nil {
			return err
		}
	}
	start := e.opts.Now()
	e.emit(stepEvent(EventUndoStart, s))
	stop := e.heartbeat(s, start)
	err := e.provider.Undo(ctx, s, rec, e.progress(s, start))
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
		}
		if werr := e.update(func() { ss.Error = "rollback: " + err.Error() }); werr != nil {
			return werr
		}
		ev := stepEvent(EventStepFailed, s)
		ev.Message, ev.Error = "rollback failed", err.Error()
		e.emit(ev)
		return &StepError{StepID: s.ID, Err: fmt.Errorf("rollback: %w", err)}
	}
	now := e.opts.Now()
	if err := e.update(func() {
		if ss.Status != states.StatusPending {
			ss.Status = states.StatusRolledBack
		}
		ss.EndedAt, ss.Error = now, ""
	}); err != nil {
		return err
	}
	ev := stepEvent(EventStepUndone, s)
	ev.Elapsed = now.Sub(start)
	e.emit(ev)
	return nil
}
