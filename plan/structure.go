package plan

import "slices"

// PhaseKind names a part of the plan.
type PhaseKind string

const (
	PhaseInstall  PhaseKind = "install"  // the target control plane the plan installs, and the wait for it
	PhaseTags     PhaseKind = "tags"     // the revision tags the plan moves
	PhaseGateways PhaseKind = "gateways" // the gateways the plan moves
	PhaseWave     PhaseKind = "wave"     // one wave: relabels, restarts, wait, verify, gates
	PhaseFinalize PhaseKind = "finalize" // the uninstall of the old control plane
)

// Phase is a part of the plan that apply runs as a whole and a view shows
// under one heading. Its groups run one after another; the steps of one
// group run at the same time, at most MaxParallel at once. Apply walks the
// phases in order; nothing is inferred from the order of Plan.Steps.
type Phase struct {
	Kind PhaseKind
	// Wave is the wave's name, for a wave.
	Wave string
	// MaxParallel bounds the steps of one group running at once: a wave's
	// max_parallel, which bounds its restarts. Zero means one.
	MaxParallel int
	// Groups are step ids.
	Groups [][]string
}

// Parallel is how many steps of one of the phase's groups run at once.
func (ph Phase) Parallel() int { return max(ph.MaxParallel, 1) }

// StepIDs are the phase's steps in the order its groups hold them.
func (ph Phase) StepIDs() []string { return slices.Concat(ph.Groups...) }

// RollbackPhase is how a rollback reverses one phase. Plan.RollbackOrder
// lists them in the order a rollback of everything walks them; a rollback of
// one wave or one namespace walks only the waves it selects.
type RollbackPhase struct {
	Kind PhaseKind
	Wave string
	// MaxParallel bounds the steps of one group rolled back at once.
	MaxParallel int
	// Groups are the steps to roll back (those that changed the cluster),
	// groups one after another, the steps of a group at the same time.
	Groups [][]string
	// Reverify are a wave's wait and verify, run on the source once a step
	// of the wave was rolled back.
	Reverify []string
	// Rerun are the steps that passed for the target and must run again
	// before the wave counts as done: its wait, verify and gates.
	Rerun []string
	// Irreversible are steps that, once done, leave nothing to roll back to:
	// a rollback of everything is refused.
	Irreversible []string
}

// Parallel is how many steps of one of the phase's groups are rolled back at
// once.
func (rp RollbackPhase) Parallel() int { return max(rp.MaxParallel, 1) }

// AddPhase appends ph to p with its steps, groups in order: the steps go to
// p.Steps and their ids to ph.Groups. Empty groups are dropped, and a phase
// without steps is not added.
func (p *Plan) AddPhase(ph Phase, groups ...[]Step) {
	ph.Groups = nil
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		ids := make([]string, len(g))
		for i, s := range g {
			ids[i] = s.ID
		}
		ph.Groups = append(ph.Groups, ids)
		p.Steps = append(p.Steps, g...)
	}
	if len(ph.Groups) > 0 {
		p.Phases = append(p.Phases, ph)
	}
}

// OneByOne makes each step a group of its own: steps that run one after
// another.
func OneByOne(steps ...Step) [][]Step {
	groups := make([][]Step, len(steps))
	for i, s := range steps {
		groups[i] = []Step{s}
	}
	return groups
}

// PhaseSteps are ph's steps, in the order its groups hold them, looked up in
// p.Steps.
func (p *Plan) PhaseSteps(ph Phase) []Step {
	return p.StepsByID(ph.StepIDs())
}

// StepsByID looks ids up in p.Steps, in the order of ids; an id p does not
// hold is left out.
func (p *Plan) StepsByID(ids []string) []Step {
	byID := make(map[string]int, len(p.Steps))
	for i, s := range p.Steps {
		byID[s.ID] = i
	}
	out := make([]Step, 0, len(ids))
	for _, id := range ids {
		if i, ok := byID[id]; ok {
			out = append(out, p.Steps[i])
		}
	}
	return out
}

// WavePhase is the phase of wave, if p has it.
func (p *Plan) WavePhase(wave string) (Phase, bool) {
	for _, ph := range p.Phases {
		if ph.Kind == PhaseWave && ph.Wave == wave {
			return ph, true
		}
	}
	return Phase{}, false
}

// RollbackOrder is how a rollback reverses steps (step definitions in the
// order they were planned; phases supply each wave's max_parallel):
//
//   - an uninstall, once done, refuses a rollback of everything: the source
//     control plane is gone, so nothing is left to roll back to;
//   - the revision tags go back first, last moved first: a pod restarted in a
//     namespace that follows a tag is injected by whatever the tag points at
//     when the pod starts;
//   - then each wave, last first: its relabels, last first, so the pods its
//     restarts create are injected by the source; then its restarts, at most
//     the wave's max_parallel at once (an eviction evicts its pods again,
//     one at a time, onto the source); then its wait and verify again, on
//     the source; its wait, verify and gates must run again before the wave
//     counts as done;
//   - then the gateways, last moved first;
//   - then, last of all, the install: what it created is deleted and what
//     it changed restored once nothing of the plan uses the target any
//     more, so the old revision serves as it did.
//
// Compute stores it in Plan.RollbackOrder; a rollback of a state holding
// steps its plan no longer has computes it again from the state's steps.
func RollbackOrder(steps []Step, phases []Phase) []RollbackPhase {
	var r rollbackParts
	r.sort(steps, phases)
	var order []RollbackPhase
	if len(r.uninstalls) > 0 {
		order = append(order, RollbackPhase{Kind: PhaseFinalize, Groups: [][]string{}, Irreversible: r.uninstalls})
	}
	if len(r.tags) > 0 {
		order = append(order, RollbackPhase{Kind: PhaseTags, Groups: lastFirst(r.tags)})
	}
	for _, name := range slices.Backward(r.waves) {
		w := r.byWave[name]
		w.Groups = lastFirst(r.relabels[name])
		if len(r.restarts[name]) > 0 {
			w.Groups = append(w.Groups, r.restarts[name])
		}
		if w.Groups == nil {
			w.Groups = [][]string{}
		}
		order = append(order, *w)
	}
	if len(r.gateways) > 0 {
		order = append(order, RollbackPhase{Kind: PhaseGateways, Groups: lastFirst(r.gateways)})
	}
	if len(r.installs) > 0 {
		order = append(order, RollbackPhase{Kind: PhaseInstall, Groups: lastFirst(r.installs)})
	}
	return order
}

// rollbackParts are a plan's step ids sorted by what a rollback does with
// them.
type rollbackParts struct {
	uninstalls, tags, gateways, installs []string
	waves                                []string // in plan order
	byWave                               map[string]*RollbackPhase
	relabels, restarts                   map[string][]string // by wave
}

func (r *rollbackParts) sort(steps []Step, phases []Phase) {
	r.byWave, r.relabels, r.restarts = map[string]*RollbackPhase{}, map[string][]string{}, map[string][]string{}
	maxParallel := map[string]int{}
	for _, ph := range phases {
		if ph.Kind == PhaseWave {
			maxParallel[ph.Wave] = ph.MaxParallel
		}
	}
	for _, s := range steps {
		switch {
		case s.Kind == StepUninstall:
			r.uninstalls = append(r.uninstalls, s.ID)
		case s.Kind == StepTagMove:
			r.tags = append(r.tags, s.ID)
		case s.Kind == StepGatewayMigrate:
			r.gateways = append(r.gateways, s.ID)
		case s.Kind == StepInstall:
			r.installs = append(r.installs, s.ID)
		case s.Wave != "":
			w := r.byWave[s.Wave]
			if w == nil {
				w = &RollbackPhase{Kind: PhaseWave, Wave: s.Wave, MaxParallel: maxParallel[s.Wave]}
				r.byWave[s.Wave] = w
				r.waves = append(r.waves, s.Wave)
			}
			r.addWaveStep(w, s)
		}
	}
}

func (r *rollbackParts) addWaveStep(w *RollbackPhase, s Step) {
	switch s.Kind {
	case StepNamespaceRelabel:
		r.relabels[s.Wave] = append(r.relabels[s.Wave], s.ID)
	case StepWorkloadRestart, StepWorkloadEvict:
		r.restarts[s.Wave] = append(r.restarts[s.Wave], s.ID)
	case StepWaveWait, StepWaveVerify:
		w.Reverify = append(w.Reverify, s.ID)
		w.Rerun = append(w.Rerun, s.ID)
	case StepGate:
		w.Rerun = append(w.Rerun, s.ID)
	}
}

// lastFirst makes each id a group of its own, last first.
func lastFirst(ids []string) [][]string {
	groups := make([][]string, 0, len(ids))
	for _, id := range slices.Backward(ids) {
		groups = append(groups, []string{id})
	}
	return groups
}
