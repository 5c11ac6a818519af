package views

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// itemizeUpTo is how many steps of one kind a phase may have and still get
// a line each as they start and finish. Above it (a wave's 600 restarts),
// the log says how many there are, how many are done, and which are the
// slowest, instead of 1,200 lines nobody reads.
const itemizeUpTo = 12

// runModel follows a run through the executor's events: the phases of the
// plan, how many steps of each kind each phase has finished, which steps
// run since when and with what last status, how many pods the wave's verify
// step found on the target, and every failure. The log and the live screen
// read it; it prints nothing.
//
// Without a plan (begin not called) it still follows the events; it then
// knows no totals, and every step is itemized.
type runModel struct {
	phases  []*phaseModel
	byWave  map[string]*phaseModel
	byStep  map[string]*phaseModel
	other   *phaseModel // steps of no phase the plan names
	current *phaseModel
	start   time.Time
	// last is the time of the latest event: "now" for a view that has no
	// clock of its own.
	last     time.Time
	failures []failure
	finished bool // apply-done, or the run stopped
}

// phaseModel is one phase of the plan as the run finds it.
type phaseModel struct {
	kind     plan.PhaseKind
	wave     string
	parallel int
	// count is how many steps of each kind the phase has in the plan.
	count map[plan.StepKind]int
	// pods is how many pods the wave's verify step checks.
	pods int

	state      phaseState
	start, end time.Time
	batches    map[batchKey]*batch
	order      []*batch
	running    map[string]*runningStep
	// verified is how many pods the verify step last found on the target;
	// verifying says the step started.
	verified  int
	verifying bool
	// lastSummary is when the log last summarized the phase.
	lastSummary time.Time
}

type phaseState int

const (
	phasePending phaseState = iota
	phaseRunning
	phaseDone
	phaseFailed
	phaseStopped
)

type batchKey struct {
	kind     plan.StepKind
	rollback bool
}

// batch counts the steps of one kind of a phase going forward, or being
// rolled back.
type batch struct {
	batchKey
	total int // steps of the kind in the plan; rollbacks have none
	// changed: done now; unchanged: no-op or done earlier; rolledBack: reversed.
	changed, unchanged, failed, rolledBack int
	first, last                            time.Time
	// The log's bookkeeping: announced and reported say whether the
	// opening and closing lines are out; milestone is the next tenth of
	// total whose crossing earns a summary.
	announced, reported bool
	milestone           int
}

func (b *batch) finished() int { return b.changed + b.unchanged + b.failed + b.rolledBack }

// complete reports whether every step of a forward batch finished.
func (b *batch) complete() bool { return !b.rollback && b.total > 0 && b.finished() >= b.total }

// runningStep is a step that started and has not finished.
type runningStep struct {
	id, subject string
	kind        plan.StepKind
	rollback    bool
	start       time.Time
	// elapsed as of at, the time of its latest event.
	elapsed time.Duration
	at      time.Time
	message string
}

// elapsedAt is how long s has been running at now.
func (s *runningStep) elapsedAt(now time.Time) time.Duration {
	if !s.start.IsZero() && !now.IsZero() && now.After(s.start) {
		return now.Sub(s.start)
	}
	return s.elapsed
}

type failure struct{ subject, err string }

func newRunModel() *runModel {
	m := &runModel{byWave: map[string]*phaseModel{}, byStep: map[string]*phaseModel{}}
	m.other = newPhaseModel("", "", 0)
	return m
}

func newPhaseModel(kind plan.PhaseKind, wave string, parallel int) *phaseModel {
	return &phaseModel{kind: kind, wave: wave, parallel: parallel, count: map[plan.StepKind]int{},
		batches: map[batchKey]*batch{}, running: map[string]*runningStep{}}
}

// begin takes the plan's structure: its phases, their steps by kind, the
// pods each wave verifies.
func (m *runModel) begin(p *plan.Plan) {
	m.phases, m.byWave, m.byStep = nil, map[string]*phaseModel{}, map[string]*phaseModel{}
	for _, ph := range p.Phases {
		pm := newPhaseModel(ph.Kind, ph.Wave, ph.Parallel())
		for _, s := range p.PhaseSteps(ph) {
			pm.count[s.Kind]++
			m.byStep[s.ID] = pm
			if s.Kind == plan.StepWaveVerify {
				pm.pods += s.Pods
			}
		}
		m.phases = append(m.phases, pm)
		if ph.Kind == plan.PhaseWave {
			m.byWave[ph.Wave] = pm
		}
	}
}

// wave is the phase of wave, made up when the plan is not known.
func (m *runModel) wave(name string) *phaseModel {
	if pm, ok := m.byWave[name]; ok {
		return pm
	}
	pm := newPhaseModel(plan.PhaseWave, name, 0)
	m.byWave[name] = pm
	m.phases = append(m.phases, pm)
	return pm
}

// phaseOf is the phase an event is about.
func (m *runModel) phaseOf(e executor.Event) *phaseModel {
	if pm, ok := m.byStep[e.StepID]; ok {
		return pm
	}
	if e.Wave != "" {
		return m.wave(e.Wave)
	}
	return m.other
}

// itemized reports whether the log gives each step of kind in pm lines of
// its own.
func (pm *phaseModel) itemized(kind plan.StepKind) bool { return pm.count[kind] <= itemizeUpTo }

func (pm *phaseModel) batch(kind plan.StepKind, rollback bool, at time.Time) *batch {
	k := batchKey{kind, rollback}
	b, ok := pm.batches[k]
	if !ok {
		b = &batch{batchKey: k, first: at, milestone: 1}
		if !rollback {
			b.total = pm.count[kind]
		}
		pm.batches[k] = b
		pm.order = append(pm.order, b)
	}
	b.last = at
	return b
}

// switchTo makes pm the current phase. A phase that is not a wave has no
// events of its own: its first step starts it, and the next phase ends it.
func (m *runModel) switchTo(pm *phaseModel, at time.Time) {
	if m.current != pm && m.current != nil && m.current.kind != plan.PhaseWave && m.current.state == phaseRunning {
		m.current.state, m.current.end = phaseDone, at
	}
	m.current = pm
	pm.enter(at)
}

func (pm *phaseModel) enter(at time.Time) {
	if pm.state == phasePending {
		pm.state, pm.start = phaseRunning, at
	}
}

// observe updates m with e and returns the phase and the batch e counted
// in (nil for events about no step).
func (m *runModel) observe(e executor.Event, subject string) (*phaseModel, *batch) {
	if !e.Time.IsZero() {
		m.last = e.Time
	}
	switch e.Kind {
	case executor.EventApplyStart:
		m.start = e.Time
		return nil, nil
	case executor.EventWaveStart:
		pm := m.wave(e.Wave)
		m.switchTo(pm, e.Time)
		return pm, nil
	case executor.EventWaveDone, executor.EventWaveFailed, executor.EventInterrupted:
		pm := m.phaseOf(e)
		if e.Wave == "" && m.current != nil {
			pm = m.current
		}
		pm.end = e.Time
		pm.state = map[executor.EventKind]phaseState{executor.EventWaveDone: phaseDone,
			executor.EventWaveFailed: phaseFailed, executor.EventInterrupted: phaseStopped}[e.Kind]
		clear(pm.running)
		if e.Kind == executor.EventInterrupted {
			m.finished = true
		}
		return pm, nil
	case executor.EventRollbackStart, executor.EventRollbackDone:
		if e.Wave != "" {
			return m.wave(e.Wave), nil
		}
		return m.current, nil
	case executor.EventApplyDone:
		m.finished = true
		if m.current != nil && m.current.state == phaseRunning {
			m.current.state, m.current.end = phaseDone, e.Time
		}
		return nil, nil
	}
	if e.StepID == "" && e.Object == "" {
		return nil, nil
	}
	pm := m.phaseOf(e)
	m.switchTo(pm, e.Time)
	id := e.StepID
	if id == "" {
		id = e.Object
	}
	switch e.Kind {
	case executor.EventStepStart, executor.EventStepRollbackStart:
		rb := e.Kind == executor.EventStepRollbackStart
		pm.running[id] = &runningStep{id: id, subject: subject, kind: e.StepKind, rollback: rb, start: e.Time, at: e.Time}
		if e.StepKind == plan.StepWaveVerify {
			pm.verifying = true
		}
		return pm, pm.batch(e.StepKind, rb, e.Time)
	case executor.EventStepProgress:
		rs, ok := pm.running[id]
		if !ok {
			return pm, nil
		}
		rs.elapsed, rs.at = e.Elapsed, e.Time
		// The executor's heartbeat says only that the step still runs: the
		// provider's last status says more.
		if e.Message != heartbeat || rs.message == "" {
			rs.message = e.Message
		}
		if e.StepKind == plan.StepWaveVerify {
			var n, of int
			if _, err := fmt.Sscanf(e.Message, "%d/%d pods", &n, &of); err == nil {
				pm.verified = n
			}
		}
		return pm, pm.batches[batchKey{e.StepKind, rs.rollback}]
	case executor.EventStepDone, executor.EventStepRolledBack, executor.EventStepFailed:
		rb := e.Kind == executor.EventStepRolledBack
		if rs, ok := pm.running[id]; ok {
			rb = rs.rollback
			delete(pm.running, id)
		}
		b := pm.batch(e.StepKind, rb, e.Time)
		switch e.Kind {
		case executor.EventStepDone:
			b.changed++
			if e.StepKind == plan.StepWaveVerify {
				pm.verified = pm.pods
			}
		case executor.EventStepRolledBack:
			b.rolledBack++
		default:
			b.failed++
			m.failures = append(m.failures, failure{subject, e.Error})
		}
		return pm, b
	case executor.EventStepSkipped, executor.EventStepVerified:
		b := pm.batch(e.StepKind, false, e.Time)
		b.unchanged++
		if e.StepKind == plan.StepWaveVerify {
			pm.verified = pm.pods
		}
		return pm, b
	}
	return pm, nil
}

// heartbeat is the message of the executor's periodic progress event.
const heartbeat = "still running"

// slowest are pm's running steps, longest running first, at most n of them.
func (pm *phaseModel) slowest(now time.Time, n int) []*runningStep {
	all := make([]*runningStep, 0, len(pm.running))
	for _, rs := range pm.running {
		all = append(all, rs)
	}
	slices.SortFunc(all, func(a, b *runningStep) int {
		if d := b.elapsedAt(now) - a.elapsedAt(now); d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a.subject, b.subject)
	})
	return all[:min(n, len(all))]
}

// restarts is the phase's forward batch of restarts, if it has one.
func (pm *phaseModel) restarts() *batch {
	return pm.batches[batchKey{plan.StepWorkloadRestart, false}]
}

// remaining estimates how long b's unfinished steps take, from the pace of
// those finished so far; ok is false before any finished.
func (b *batch) remaining(now time.Time) (time.Duration, bool) {
	done := b.finished()
	if b.total == 0 || done == 0 || done >= b.total || b.first.IsZero() || !now.After(b.first) {
		return 0, false
	}
	spent := now.Sub(b.first)
	return time.Duration(float64(spent) * float64(b.total-done) / float64(done)), true
}

// nouns are what a batch of a step kind counts.
var nouns = map[plan.StepKind][2]string{
	plan.StepTagMove:          {"revision tag", "revision tags"},
	plan.StepGatewayMigrate:   {"gateway", "gateways"},
	plan.StepNamespaceRelabel: {"namespace", "namespaces"},
	plan.StepWorkloadRestart:  {"workload", "workloads"},
	plan.StepWorkloadEvict:    {"workload", "workloads"},
	plan.StepUninstall:        {"control plane object", "control plane objects"},
}

func nounOf(kind plan.StepKind, n int) string {
	w, ok := nouns[kind]
	if !ok {
		w = [2]string{"step", "steps"}
	}
	if n == 1 {
		return w[0]
	}
	return w[1]
}

// batchPast says what a finished step of a batch of kind did.
var batchPast = map[plan.StepKind]string{
	plan.StepTagMove:          "moved",
	plan.StepGatewayMigrate:   "moved",
	plan.StepNamespaceRelabel: "relabeled",
	plan.StepWorkloadRestart:  "restarted",
	plan.StepWorkloadEvict:    "rolled by eviction",
	plan.StepUninstall:        "removed",
}

// progressText is what b has done so far: "312/600 workloads restarted, 2
// failed", or, for a rollback, "312 workloads rolled back".
func (b *batch) progressText() string {
	if b.rollback {
		s := fmt.Sprintf("%d %s rolled back", b.rolledBack, nounOf(b.kind, b.rolledBack))
		if b.failed > 0 {
			s += fmt.Sprintf(", %d failed", b.failed)
		}
		return s
	}
	past, ok := batchPast[b.kind]
	if !ok {
		past = "done"
	}
	s := fmt.Sprintf("%d/%d %s %s", b.changed+b.unchanged, b.total, nounOf(b.kind, b.total), past)
	if b.unchanged > 0 {
		s += fmt.Sprintf(" (%d already)", b.unchanged)
	}
	if b.failed > 0 {
		s += fmt.Sprintf(", %d failed", b.failed)
	}
	return s
}

// title names a phase: `wave "canary"`, "gateways".
func (pm *phaseModel) title() string {
	switch pm.kind {
	case plan.PhaseWave:
		return fmt.Sprintf("wave %q", pm.wave)
	case "":
		return "other steps"
	}
	return string(pm.kind)
}

// podsText is the wave's verified pods: "0/1200 pods verified"; empty for a
// phase that verifies none.
func (pm *phaseModel) podsText() string {
	if pm.pods == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d pods verified", pm.verified, pm.pods)
}
