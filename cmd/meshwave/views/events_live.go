package views

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// liveApply is the human view on a terminal: the log's lines that must stay
// (wave headings and results, failures, batches opened and closed) scroll
// above a screen redrawn in place, which shows each phase's done/total,
// the pods verified, the slowest running steps, the time spent and the
// time left, and never grows past the terminal's height. Bubble Tea draws
// the screen; it reads no input, so Ctrl-C stays the process's SIGINT and
// ends the apply as it does without the view.
//
// The executor calls Observe from one goroutine at a time; the screen is
// drawn from Bubble Tea's. mu guards the log (and its model) and the
// terminal's size between them; progMu guards the program, started by
// Begin, stopped and started again around a prompt (Hold), stopped for good
// by Close.
type liveApply struct {
	w   io.Writer
	now func() time.Time

	mu     sync.Mutex
	log    *humanApply
	lines  []string // the log's lines not yet handed on
	width  int
	height int
	hidden bool // the program is ending: draw nothing

	progMu sync.Mutex
	prog   *tea.Program
	ended  chan struct{}
	closed bool
}

var _ Apply = (*liveApply)(nil)

func newLiveApply(w io.Writer, p painter, now func() time.Time) *liveApply {
	l := &liveApply{w: w, now: now}
	l.log = newHumanApply(w, p, true)
	l.log.out = func(s string) { l.lines = append(l.lines, s) }
	return l
}

// Plan shows p as the log does; nothing is drawn yet.
func (l *liveApply) Plan(p *plan.Plan) error {
	l.mu.Lock()
	err := l.log.Plan(p)
	l.mu.Unlock()
	l.deliver()
	return err
}

// Begin takes the plan's structure and starts drawing.
func (l *liveApply) Begin(p *plan.Plan) {
	l.mu.Lock()
	l.log.Begin(p)
	l.mu.Unlock()
	l.progMu.Lock()
	defer l.progMu.Unlock()
	l.start()
}

// Observe implements executor.Observer.
func (l *liveApply) Observe(e executor.Event) {
	l.mu.Lock()
	l.log.Observe(e)
	l.mu.Unlock()
	l.deliver()
}

// Hold clears the screen and stops drawing until release.
func (l *liveApply) Hold() (release func()) {
	l.progMu.Lock()
	defer l.progMu.Unlock()
	if l.prog == nil {
		return func() {}
	}
	l.stop()
	return func() {
		l.progMu.Lock()
		defer l.progMu.Unlock()
		if !l.closed {
			l.start()
		}
	}
}

// Close stops drawing, clears the screen and writes the final summary:
// where each phase ended and every failure, whatever scrolled away.
func (l *liveApply) Close() {
	l.progMu.Lock()
	l.closed = true
	l.stop()
	l.progMu.Unlock()
	l.deliver()
	l.mu.Lock()
	summary := finalSummary(l.log.m, l.log.p)
	l.mu.Unlock()
	if summary != "" {
		fmt.Fprint(l.w, summary)
	}
}

// deliver hands the log's pending lines to the program, which prints them
// above the screen, or writes them itself when nothing is drawn. It is
// called without mu held: the program takes mu to draw.
func (l *liveApply) deliver() {
	l.mu.Lock()
	lines := l.lines
	l.lines = nil
	l.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	l.progMu.Lock()
	defer l.progMu.Unlock()
	text := strings.Join(lines, "\n")
	if l.prog != nil {
		select {
		case <-l.ended:
		default:
			l.prog.Println(text)
			return
		}
	}
	fmt.Fprintln(l.w, text)
}

// start runs a program that draws the screen; progMu is held.
func (l *liveApply) start() {
	if l.prog != nil {
		return
	}
	l.mu.Lock()
	l.hidden = false
	l.mu.Unlock()
	l.prog = tea.NewProgram(liveModel{l},
		tea.WithOutput(l.w),
		tea.WithInput(nil), // no raw mode: Ctrl-C is SIGINT, handled by the command
		tea.WithoutSignalHandler(),
		tea.WithoutBracketedPaste(),
		tea.WithFPS(20))
	l.ended = make(chan struct{})
	go func(p *tea.Program, ended chan struct{}) {
		defer close(ended)
		_, _ = p.Run() // a terminal that fails to draw leaves the log, delivered directly
	}(l.prog, l.ended)
}

// stop clears the screen, prints what was handed over and waits for the
// program to end; progMu is held.
func (l *liveApply) stop() {
	if l.prog == nil {
		return
	}
	l.prog.Send(liveFinish{})
	<-l.ended
	l.prog = nil
}

// liveModel is the Bubble Tea model of the screen: it keeps no state of its
// own, it draws the view's.
type liveModel struct{ l *liveApply }

type (
	liveTick   struct{}
	liveFinish struct{}
)

// redrawEvery is how often the screen is drawn again, for the elapsed times
// to move when no event comes.
const redrawEvery = 500 * time.Millisecond

func tick() tea.Cmd {
	return tea.Tick(redrawEvery, func(time.Time) tea.Msg { return liveTick{} })
}

func (m liveModel) Init() tea.Cmd { return tick() }

func (m liveModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.l.mu.Lock()
		m.l.width, m.l.height = msg.Width, msg.Height
		m.l.mu.Unlock()
	case liveTick:
		return m, tick()
	case liveFinish:
		m.l.mu.Lock()
		m.l.hidden = true
		m.l.mu.Unlock()
		return m, tea.Quit
	}
	return m, nil
}

func (m liveModel) View() string {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	if m.l.hidden {
		return ""
	}
	return renderLive(m.l.log.m, m.l.now(), m.l.height, m.l.log.p)
}

// defaultHeight is the height assumed of a terminal that does not say.
const defaultHeight = 24

// renderLive draws the screen at now in at most height-1 lines (the last
// row stays free for the cursor): a line per phase, and under the one that
// runs its slowest steps, as many as fit. With more phases than fit, those
// done and those to come are counted on one line each.
func renderLive(m *runModel, now time.Time, height int, c painter) string {
	if height <= 0 {
		height = defaultHeight
	}
	room := max(height-1, 1)
	var before, after []*phaseModel
	var cur *phaseModel
	for _, pm := range m.phases {
		switch {
		case pm == m.current && pm.state == phaseRunning:
			cur = pm
		case cur == nil && pm.state != phasePending:
			before = append(before, pm)
		default:
			after = append(after, pm)
		}
	}
	if cur == nil && m.current != nil && m.current.state == phaseRunning {
		cur = m.current // steps of no phase the plan names
	}
	var lines []string
	phaseLines := len(before) + len(after)
	if cur != nil {
		phaseLines++
	}
	// One line for the current phase and one for its "and N more".
	if phaseLines+2 > room && len(before)+len(after) > 0 {
		if len(before) > 0 {
			lines = append(lines, c.paint(fmt.Sprintf("  %d of %d phases finished", len(before), len(m.phases)), sgrDim))
		}
		if cur != nil {
			lines = append(lines, c.paint("> "+phaseLine(cur, now), sgrBold))
		}
		if len(after) > 0 {
			lines = append(lines, c.paint(fmt.Sprintf("  %d to come: %s", len(after), phaseNames(after)), sgrDim))
		}
	} else {
		for _, pm := range before {
			lines = append(lines, "  "+phaseLine(pm, now))
		}
		if cur != nil {
			lines = append(lines, c.paint("> "+phaseLine(cur, now), sgrBold))
		}
		for _, pm := range after {
			lines = append(lines, c.paint("  "+phaseLine(pm, now), sgrDim))
		}
	}
	if cur != nil && len(cur.running) > 0 {
		fit := room - len(lines)
		shown := cur.slowest(now, max(fit-1, 0))
		if len(shown) == len(cur.running)-1 && fit > len(shown) {
			shown = cur.slowest(now, fit) // room for the last one instead of "1 more"
		}
		for _, rs := range shown {
			lines = append(lines, "    "+runningText(rs, now))
		}
		if n := len(cur.running) - len(shown); n > 0 && len(lines) < room {
			lines = append(lines, c.paint(fmt.Sprintf("    ... and %d more running", n), sgrDim))
		}
	}
	if len(lines) > room {
		lines = lines[:room]
	}
	return strings.Join(lines, "\n")
}

// phaseLine is one phase on the screen: `wave "prod": 312/600 workloads
// restarted, 2 failed; 288 running; 0/1200 pods verified [40s, about 35s
// left]`.
func phaseLine(pm *phaseModel, now time.Time) string {
	parts := phaseParts(pm)
	if pm.state == phaseRunning {
		if n := len(pm.running); n > 0 {
			parts = append(parts, fmt.Sprintf("%d running", n))
		}
	}
	s := pm.title() + ": " + strings.Join(parts, "; ")
	switch pm.state {
	case phasePending:
		return s + " (to come)"
	case phaseRunning:
		t := ""
		if !pm.start.IsZero() && now.After(pm.start) {
			t = roundDuration(now.Sub(pm.start)).String()
		}
		if r := pm.restarts(); r != nil {
			if left, ok := r.remaining(now); ok {
				t += fmt.Sprintf(", about %s left", roundDuration(left))
			}
		}
		if t != "" {
			s += " [" + strings.TrimPrefix(t, ", ") + "]"
		}
		return s
	}
	end := map[phaseState]string{phaseDone: "done", phaseFailed: "failed", phaseStopped: "stopped"}[pm.state]
	if !pm.start.IsZero() && pm.end.After(pm.start) {
		end += " after " + roundDuration(pm.end.Sub(pm.start)).String()
	}
	return s + " (" + end + ")"
}

// phaseParts are a phase's counts: its workloads restarted (or, for a
// phase without restarts, its steps done), any namespaces still being
// relabeled, the pods verified.
func phaseParts(pm *phaseModel) []string {
	var parts []string
	relabel := pm.batches[batchKey{plan.StepNamespaceRelabel, false}]
	if relabel != nil && !relabel.complete() && pm.state == phaseRunning {
		parts = append(parts, relabel.progressText())
	}
	switch r := pm.restarts(); {
	case r != nil:
		parts = append(parts, r.progressText())
	case pm.count[plan.StepWorkloadRestart] > 0:
		parts = append(parts, fmt.Sprintf("0/%d workloads restarted", pm.count[plan.StepWorkloadRestart]))
	default:
		total, done := 0, 0
		for _, n := range pm.count {
			total += n
		}
		for _, b := range pm.order {
			if !b.rollback {
				done += b.changed + b.unchanged
			}
		}
		if total > 0 {
			parts = append(parts, fmt.Sprintf("%d/%d steps done", done, total))
		}
	}
	for _, b := range pm.order {
		if b.rollback {
			parts = append(parts, b.progressText())
		}
	}
	if t := pm.podsText(); t != "" {
		parts = append(parts, t)
	}
	return parts
}

func phaseNames(pms []*phaseModel) string {
	names := make([]string, len(pms))
	for i, pm := range pms {
		names[i] = pm.title()
	}
	return strings.Join(names, ", ")
}

// finalSummary is what the live view leaves when it ends: where each phase
// that started ended, and every failure of the run with its error.
func finalSummary(m *runModel, c painter) string {
	var b strings.Builder
	for _, pm := range m.phases {
		if pm.state == phasePending {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n" + c.paint("Summary:", sgrBold) + "\n")
		}
		b.WriteString("  " + phaseLine(pm, m.last) + "\n")
	}
	if n := len(m.failures); n > 0 {
		b.WriteString(c.paint(fmt.Sprintf("Failed (%d):", n), sgrRed, sgrBold) + "\n")
		for _, f := range m.failures {
			b.WriteString("  " + f.subject + ": " + f.err + "\n")
		}
	}
	return b.String()
}
