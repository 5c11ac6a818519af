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

// Scope picks what a manual rollback reverses. Both empty: the revision
// tags, then every wave, last first, then the gateways.
type Scope struct {
	Wave      string
	Namespace string
}

func (s Scope) String() string {
	switch {
	case s.Wave != "":
		return "wave " + s.Wave
	case s.Namespace != "":
		return "namespace " + s.Namespace
	}
	return "everything"
}

// Rollback reverses the steps in scope that changed the cluster, using the
// Records saved when they ran: namespaces get their original labels back,
// workloads are restarted onto the source revision and verified there,
// gateways return to their recorded control plane. Reversed steps become
// rolled-back, and a later apply runs them again.
//
// p supplies the steps' definitions; a step the state knows but p does not
// is reversed from what the state recorded about it.
func (e *Executor) Rollback(ctx context.Context, p *plan.Plan, scope Scope) error {
	if scope.Wave != "" && scope.Namespace != "" {
		return errors.New("rollback: select a wave or a namespace, not both")
	}
	st, err := e.store.Read()
	if errors.Is(err, statemgr.ErrNoState) {
		return errors.New("rollback: there is no state, so nothing was applied to roll back")
	}
	if err != nil {
		return err
	}
	return e.newRun(st).rollback(ctx, p, scope)
}

// rollback reverses what scope picks in e.state, walking the plan's rollback
// order: a rollback of everything walks every phase of it, a rollback of a
// wave or a namespace only the waves it selects.
func (r *run) rollback(ctx context.Context, p *plan.Plan, scope Scope) error {
	defs, order := r.rollbackOrder(p)
	var waves []plan.RollbackPhase
	for _, rp := range order {
		if rp.Kind == plan.PhaseWave && r.inState(rp) && scope.matchesWave(rp, defs) {
			waves = append(waves, rp)
		}
	}
	if len(waves) == 0 && !scope.everything() {
		return fmt.Errorf("rollback: %s is not in the state", scope)
	}
	if scope.everything() {
		for _, rp := range order {
			for _, id := range rp.Irreversible {
				if r.needsRollback(id) {
					return fmt.Errorf("rollback: the source control plane was uninstalled (step %s); nothing is left to roll back to", id)
				}
			}
		}
	}
	for _, rp := range order {
		var err error
		switch {
		case rp.Kind == plan.PhaseWave:
			if slices.ContainsFunc(waves, func(w plan.RollbackPhase) bool { return w.Wave == rp.Wave }) {
				err = r.rollbackWave(ctx, rp, defs, scope.Namespace)
			}
		case scope.everything():
			err = r.rollbackOutsideWaves(ctx, rp, defs)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// rollbackOrder returns the definitions of the steps in the state (the
// plan's, or for a step the plan no longer has, what the state recorded)
// and the order to reverse them in: the plan's, or, when the state holds
// steps the plan does not, the same rule applied to the state's steps.
func (r *run) rollbackOrder(p *plan.Plan) (map[string]plan.Step, []plan.RollbackPhase) {
	byID := map[string]plan.Step{}
	for _, s := range p.Steps {
		byID[s.ID] = s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	defs := map[string]plan.Step{}
	var inStateOrder []plan.Step
	beyondPlan := false
	for _, ss := range r.state.Steps {
		s, ok := byID[ss.ID]
		if !ok {
			s, beyondPlan = plan.Step{ID: ss.ID, Kind: ss.Kind, Wave: ss.Wave, Object: ss.Object}, true
		}
		defs[s.ID] = s
		inStateOrder = append(inStateOrder, s)
	}
	if beyondPlan {
		return defs, plan.RollbackOrder(inStateOrder, p.Phases)
	}
	return defs, p.RollbackOrder
}

// inState reports whether the state holds some step of rp.
func (r *run) inState(rp plan.RollbackPhase) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range slices.Concat(append(rp.Groups, rp.Rerun)...) {
		if r.state.Step(id) != nil {
			return true
		}
	}
	return false
}

// rollbackOutsideWaves reverses the steps of a phase outside the waves (tag
// moves, gateway moves, the install) that changed the cluster.
func (r *run) rollbackOutsideWaves(ctx context.Context, rp plan.RollbackPhase, defs map[string]plan.Step) error {
	var groups [][]plan.Step
	for _, g := range rp.Groups {
		if steps := r.toRollBack(g, defs, ""); len(steps) > 0 {
			groups = append(groups, steps)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	what := map[plan.PhaseKind]string{plan.PhaseTags: "revision tags", plan.PhaseGateways: "gateways", plan.PhaseInstall: "control plane install"}[rp.Kind]
	r.emit(Event{Kind: EventRollbackStart, Message: what})
	for _, steps := range groups {
		if err := r.runParallel(ctx, steps, rp.Parallel(), r.rollbackStep); err != nil {
			return err
		}
	}
	r.emit(Event{Kind: EventRollbackDone, Message: what})
	return nil
}

// toRollBack are the steps of ids that may have changed the cluster (in ns,
// when set).
func (r *run) toRollBack(ids []string, defs map[string]plan.Step, ns string) []plan.Step {
	scope := Scope{Namespace: ns}
	var out []plan.Step
	for _, id := range ids {
		if s, ok := defs[id]; ok && scope.touches(s) && r.needsRollback(id) {
			out = append(out, s)
		}
	}
	return out
}

func (scope Scope) everything() bool { return scope.Wave == "" && scope.Namespace == "" }

// matchesWave reports whether the wave rp reverses is selected.
func (scope Scope) matchesWave(rp plan.RollbackPhase, defs map[string]plan.Step) bool {
	switch {
	case scope.Wave != "":
		return rp.Wave == scope.Wave
	case scope.Namespace != "":
		for _, id := range slices.Concat(rp.Groups...) {
			if s, ok := defs[id]; ok && scope.touches(s) {
				return true
			}
		}
		return false
	}
	return true
}

// touches reports whether s changes scope's namespace.
func (scope Scope) touches(s plan.Step) bool {
	if scope.Namespace == "" {
		return true
	}
	switch s.Kind {
	case plan.StepNamespaceRelabel:
		return s.Object != nil && s.Object.Name == scope.Namespace
	case plan.StepWorkloadRestart, plan.StepWorkloadEvict:
		return s.Object != nil && s.Object.Namespace == scope.Namespace
	}
	return false
}

// needsRollback reports whether step id may have changed the cluster: it is
// done, or it failed or stopped after recording what it would change.
func (r *run) needsRollback(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ss := r.state.Step(id)
	if ss == nil {
		return false
	}
	switch ss.Status {
	case states.StatusDone, states.StatusFailed, states.StatusRunning:
		// A step that changed something recorded first what it changed; a
		// no-op (a namespace already labeled, or following a moved tag)
		// recorded nothing and has nothing to undo.
		return len(ss.Record) > 0
	}
	return false
}

// rollbackWave reverses a wave (only ns, when set) in the order rp gives, then
// marks what must run again before the wave counts as done.
func (r *run) rollbackWave(ctx context.Context, rp plan.RollbackPhase, defs map[string]plan.Step, ns string) error {
	scope := Scope{Namespace: ns}
	r.emit(Event{Kind: EventRollbackStart, Wave: rp.Wave, Message: scope.String()})
	start := r.opts.Now()
	reversed := 0
	for _, g := range rp.Groups {
		steps := r.toRollBack(g, defs, ns)
		if len(steps) == 0 {
			continue
		}
		reversed += len(steps)
		if err := r.runParallel(ctx, steps, rp.Parallel(), r.rollbackStep); err != nil {
			return err
		}
	}
	if reversed > 0 {
		for _, id := range rp.Reverify {
			if s, ok := defs[id]; ok {
				if err := r.rollbackStep(ctx, narrow(s, ns)); err != nil {
					return err
				}
			}
		}
	}
	if err := r.update(func() { r.resetWave(rp, ns) }); err != nil {
		return err
	}
	r.emit(Event{Kind: EventRollbackDone, Wave: rp.Wave, Message: scope.String(), Elapsed: r.opts.Now().Sub(start)})
	return nil
}

// resetWave records in the state that a wave was rolled back (only ns,
// when set): its checks and gates passed for the target revision and must
// run again, its approval no longer holds, and back on the source nothing
// there is left to move by hand.
func (r *run) resetWave(rp plan.RollbackPhase, ns string) {
	for _, id := range rp.Rerun {
		ss := r.state.Step(id)
		if ss != nil && ss.Status != states.StatusPending {
			ss.Status, ss.Error = states.StatusRolledBack, ""
		}
	}
	if ns == "" {
		r.state.Revoke(rp.Wave)
	}
	var kept []plan.FollowUp
	for _, f := range r.state.FollowUps(rp.Wave) {
		if ns != "" && f.Object.Namespace != ns {
			kept = append(kept, f)
		}
	}
	r.state.SetFollowUps(rp.Wave, kept)
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

// rollbackStep reverses one step with its Record, saving the rollback time first.
func (r *run) rollbackStep(ctx context.Context, s plan.Step) error {
	r.mu.Lock()
	ss := r.state.Step(s.ID)
	rec := maps.Clone(ss.Record)
	r.mu.Unlock()
	if rec == nil {
		rec = Record{}
	}
	if rec[plan.RecordRollbackAt] == "" {
		rec[plan.RecordRollbackAt] = r.opts.Now().UTC().Format(time.RFC3339Nano)
		if err := r.update(func() { ss.Record = maps.Clone(rec) }); err != nil {
			return err
		}
	}
	start := r.opts.Now()
	r.emit(stepEvent(EventStepRollbackStart, s))
	stop := r.heartbeat(s, start)
	err := r.provider.Rollback(ctx, s, rec, r.progress(s, start))
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return &InterruptedError{Steps: []string{s.ID}, Cause: ctx.Err()}
		}
		if werr := r.update(func() { ss.Error = "rollback: " + err.Error() }); werr != nil {
			return werr
		}
		ev := stepEvent(EventStepFailed, s)
		ev.Message, ev.Error = "rollback failed", err.Error()
		r.emit(ev)
		return &StepError{StepID: s.ID, Err: fmt.Errorf("rollback: %w", err)}
	}
	now := r.opts.Now()
	if err := r.update(func() {
		if ss.Status != states.StatusPending {
			ss.Status = states.StatusRolledBack
		}
		ss.EndedAt, ss.Error = now, ""
	}); err != nil {
		return err
	}
	ev := stepEvent(EventStepRolledBack, s)
	ev.Elapsed = now.Sub(start)
	r.emit(ev)
	return nil
}
