package views

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// humanApply renders executor events as Terraform-like lines:
//
//	demo-a/app-a: restarting...
//	demo-a/app-a: still restarting... [10s elapsed] 0/1 pods updated
//	demo-a/app-a: restart complete after 12s
//
// A phase's steps of one kind get a line each only while they are few
// (itemizeUpTo): a wave of 600 restarts is announced once, summarized as it
// goes (plain) or shown on the live screen (live), and closed with one line;
// its failures are named one by one all the same. A running step's progress
// lines thin out the longer it runs, so a stuck step does not flood the log.
type humanApply struct {
	out func(string)
	p   painter
	// live leaves out what the live screen shows instead: progress lines
	// and the periodic summaries.
	live bool
	m    *runModel
	// nextProgress is, per running itemized step, the elapsed time from
	// which its next progress line is printed.
	nextProgress map[string]time.Duration
	// followUps are the finished waves' manual follow-ups, repeated at the
	// end of the run where nobody misses them.
	followUps []plan.FollowUp
}

var _ Apply = (*humanApply)(nil)

// summaryEvery is how often, at most, the log summarizes a wave whose steps
// it does not itemize when no tenth of them finished since the last time.
const summaryEvery = 30 * time.Second

// summaryGap is the least time between two summaries of a phase.
const summaryGap = 5 * time.Second

// slowestShown is how many of the slowest running steps a summary names.
const slowestShown = 3

func newHumanApply(w io.Writer, p painter, live bool) *humanApply {
	return &humanApply{out: func(s string) { fmt.Fprintln(w, s) }, p: p, live: live, m: newRunModel(),
		nextProgress: map[string]time.Duration{}}
}

// Plan shows p as plan does, before apply asks to confirm it.
func (a *humanApply) Plan(p *plan.Plan) error {
	var b strings.Builder
	if err := Human(&b, p, HumanOptions{Color: a.p.on}); err != nil {
		return err
	}
	a.out(strings.TrimSuffix(b.String(), "\n"))
	return nil
}

// Begin takes the structure of the plan about to run.
func (a *humanApply) Begin(p *plan.Plan) { a.m.begin(printable(p)) }

// Hold has nothing to hold: the log's lines do not move.
func (a *humanApply) Hold() (release func()) { return func() {} }

// Close has nothing to flush: every line is written as it comes.
func (a *humanApply) Close() {}

// verbs says, per step kind, what a running step is doing and what a
// finished one did.
var verbs = map[plan.StepKind][2]string{
	plan.StepTagMove:          {"moving revision tag", "revision tag moved"},
	plan.StepGatewayMigrate:   {"moving gateway", "gateway moved"},
	plan.StepNamespaceRelabel: {"relabeling", "relabeled"},
	plan.StepWorkloadRestart:  {"restarting", "restart complete"},
	plan.StepWorkloadEvict:    {"evicting", "evictions complete"},
	plan.StepWaveWait:         {"waiting for rollouts", "rollouts complete"},
	plan.StepWaveVerify:       {"verifying proxies", "proxies verified"},
	plan.StepGate:             {"checking", "passed"},
	plan.StepUninstall:        {"uninstalling", "uninstalled"},
	plan.StepInstall:          {"installing", "installed"},
	plan.StepInstallWait:      {"waiting for the control plane", "control plane ready"},
}

func (a *humanApply) subject(e executor.Event) string {
	switch {
	case e.StepKind == plan.StepWaveWait || e.StepKind == plan.StepWaveVerify:
		return "wave " + e.Wave
	case e.StepKind == plan.StepGate:
		// wave/canary/gate/1-pause reads as "canary pause gate".
		kind := e.StepID[strings.LastIndex(e.StepID, "/")+1:]
		if _, k, ok := strings.Cut(kind, "-"); ok {
			kind = k
		}
		return e.Wave + " " + kind + " gate"
	case e.Object != "":
		return e.Object
	}
	return e.StepID
}

// Observe implements executor.Observer.
func (a *humanApply) Observe(e executor.Event) {
	e = printable(e)
	indent := ""
	if e.Wave != "" {
		indent = "  "
	}
	pm, b := a.m.observe(e, a.subject(e))
	switch e.Kind {
	case executor.EventWaveDone, executor.EventWaveFailed, executor.EventInterrupted, executor.EventRollbackDone:
		a.closeBatches(pm, indent)
	case executor.EventRollbackStart, executor.EventApplyDone:
		a.closeBatches(a.m.current, "  ")
	}
	if b != nil && !pm.itemized(e.StepKind) {
		a.batchLines(e, pm, b, indent)
		return
	}
	line, ok := a.stepLine(e, indent)
	if !ok {
		line = a.runLine(e, indent)
	}
	if line != "" {
		a.out(strings.TrimRight(line, " "))
	}
}

// batchLines are the lines of an event about a step the log does not
// itemize: the batch's opening line, the step's failure or drift, the
// batch's summary as it goes and its closing line.
func (a *humanApply) batchLines(e executor.Event, pm *phaseModel, b *batch, indent string) {
	if !b.announced {
		b.announced = true
		pm.lastSummary = e.Time
		what := fmt.Sprintf("%s %d %s", verbs[b.kind][0], b.total, nounOf(b.kind, b.total))
		if b.rollback {
			what = "rolling back " + nouns[b.kind][1]
			if _, ok := nouns[b.kind]; !ok {
				what = "rolling back steps"
			}
		} else if b.kind == plan.StepWorkloadRestart && pm.parallel > 1 {
			what += fmt.Sprintf(", at most %d at once", pm.parallel)
		}
		a.out(indent + what + "...")
	}
	switch e.Kind {
	case executor.EventStepFailed, executor.EventStepDrifted:
		line, _ := a.stepLine(e, indent)
		a.out(line)
	}
	if b.complete() && !b.reported {
		a.report(b, indent)
		return
	}
	if !a.live && a.summaryDue(e, pm, b) {
		a.summarize(pm, e.Time, indent)
	}
}

// summaryDue reports whether pm deserves a summary after e: another tenth
// of b finished (and summaryGap passed since the last summary: fast steps
// need few), or summaryEvery passed.
func (a *humanApply) summaryDue(e executor.Event, pm *phaseModel, b *batch) bool {
	timed := !e.Time.IsZero() && !pm.lastSummary.IsZero()
	since := e.Time.Sub(pm.lastSummary)
	if b.total > 0 && b.finished()*10 >= b.milestone*b.total {
		b.milestone = b.finished()*10/b.total + 1
		if !timed || since >= summaryGap {
			return true
		}
	}
	return timed && since >= summaryEvery
}

// summarize writes where pm stands at now: what its batches did, how many
// steps run, the pods verified, the time left; then its slowest steps.
func (a *humanApply) summarize(pm *phaseModel, now time.Time, indent string) {
	pm.lastSummary = now
	parts := a.standing(pm, now)
	head := indent + strings.Join(parts, "; ")
	if !now.IsZero() && !pm.start.IsZero() {
		head = fmt.Sprintf("%s[%s] %s", indent, roundDuration(now.Sub(pm.start)), strings.Join(parts, "; "))
	}
	a.out(head)
	for _, rs := range pm.slowest(now, slowestShown) {
		if rs.elapsedAt(now) < 10*time.Second {
			break
		}
		a.out(indent + "  " + runningText(rs, now))
	}
}

// standing is what pm's batches did so far, how many of its steps run, the
// pods it verified and the time its restarts have left.
func (a *humanApply) standing(pm *phaseModel, now time.Time) []string {
	var parts []string
	for _, b := range pm.order {
		if !pm.itemized(b.kind) && !b.reported {
			parts = append(parts, b.progressText())
		}
	}
	if n := len(pm.running); n > 0 {
		parts = append(parts, fmt.Sprintf("%d running", n))
	}
	if t := pm.podsText(); t != "" && pm.verifying {
		parts = append(parts, t)
	}
	if r := pm.restarts(); r != nil {
		if left, ok := r.remaining(now); ok {
			parts = append(parts, fmt.Sprintf("about %s left", roundDuration(left)))
		}
	}
	return parts
}

// runningText is one running step: "demo-a/app-a: restarting [58s] waiting
// for rollout to finish".
func runningText(rs *runningStep, now time.Time) string {
	verb := verbs[rs.kind][0]
	if rs.rollback {
		verb = "rolling back"
	}
	s := fmt.Sprintf("%s: %s [%s]", rs.subject, verb, roundDuration(rs.elapsedAt(now)))
	// A rollout's status names its workload: once is enough.
	if msg := strings.TrimPrefix(rs.message, rs.subject+": "); msg != "" {
		s += " " + msg
	}
	return s
}

// report writes b's closing line.
func (a *humanApply) report(b *batch, indent string) {
	b.reported = true
	line := indent + b.progressText()
	if !b.first.IsZero() && b.last.After(b.first) {
		line += fmt.Sprintf(" [%s]", roundDuration(b.last.Sub(b.first)))
	}
	if b.failed > 0 {
		line = a.p.paint(line, sgrRed)
	}
	a.out(line)
}

// closeBatches reports pm's announced batches that did not get their
// closing line: the wave stopped, or its rollback ended.
func (a *humanApply) closeBatches(pm *phaseModel, indent string) {
	if pm == nil {
		return
	}
	for _, b := range pm.order {
		if b.announced && !b.reported {
			a.report(b, indent)
		}
	}
}

// stepLine is the line of an event about one step; ok is false for the
// other events.
func (a *humanApply) stepLine(e executor.Event, indent string) (line string, ok bool) {
	v := verbs[e.StepKind]
	switch e.Kind {
	case executor.EventStepStart:
		line = fmt.Sprintf("%s%s: %s...", indent, a.subject(e), v[0])
	case executor.EventStepProgress:
		if !a.progressDue(e) {
			return "", true
		}
		line = fmt.Sprintf("%s%s: still %s... [%s elapsed]", indent, a.subject(e), v[0], roundDuration(e.Elapsed))
		if e.Message != "" {
			line += " " + e.Message
		}
	case executor.EventStepDone:
		line = fmt.Sprintf("%s%s: %s after %s", indent, a.subject(e), v[1], roundDuration(e.Elapsed))
	case executor.EventStepSkipped:
		line = a.p.paint(fmt.Sprintf("%s%s: no change (%s)", indent, a.subject(e), e.Message), sgrDim)
	case executor.EventStepVerified:
		line = a.p.paint(fmt.Sprintf("%s%s: done in an earlier run, still holds", indent, a.subject(e)), sgrDim)
	case executor.EventStepDrifted:
		line = a.p.paint(fmt.Sprintf("%s%s: no longer holds (%s); running it again", indent, a.subject(e), e.Error), sgrYellow)
	case executor.EventStepFailed:
		line = a.p.paint(fmt.Sprintf("%s%s: failed: %s", indent, a.subject(e), e.Error), sgrRed)
	case executor.EventStepRollbackStart:
		line = fmt.Sprintf("%s%s: rolling back...", indent, a.subject(e))
	case executor.EventStepRolledBack:
		line = fmt.Sprintf("%s%s: rolled back", indent, a.subject(e))
	default:
		return "", false
	}
	return line, true
}

// progressDue reports whether a progress event of an itemized step gets a
// line: not on the live screen, which shows it, and, in the log, with
// lines further apart the longer the step runs (10s, 20s, 30s, 45s,
// 67s, ...), so a step stuck for minutes writes a handful, not hundreds.
func (a *humanApply) progressDue(e executor.Event) bool {
	if a.live {
		return false
	}
	next, ok := a.nextProgress[e.StepID+e.Object]
	if !ok {
		next = 10 * time.Second
	}
	if e.Elapsed < next {
		return false
	}
	a.nextProgress[e.StepID+e.Object] = e.Elapsed + max(10*time.Second, e.Elapsed/2)
	return true
}

// runLine is the line of an event about the run or a wave.
func (a *humanApply) runLine(e executor.Event, indent string) string {
	switch e.Kind {
	case executor.EventApplyStart:
		return a.p.paint("Applying: "+e.Message, sgrBold)
	case executor.EventWaveStart:
		return "\n" + a.p.paint(fmt.Sprintf("Wave %q:", e.Wave), sgrBold)
	case executor.EventApproval:
		return a.p.paint(fmt.Sprintf("%sWave %q is waiting for approval. %s", indent, e.Wave, e.Message), sgrYellow)
	case executor.EventFollowUpRequired:
		return a.p.paint(fmt.Sprintf("%sNot uninstalled yet: %s.", indent, e.Message), sgrYellow)
	case executor.EventWaveDone:
		line := a.p.paint(fmt.Sprintf("Wave %q complete: %s. [%s]", e.Wave, totalsText(e.Totals), roundDuration(e.Elapsed)), sgrGreen)
		if len(e.ManualFollowUp) > 0 {
			line += "\n  " + a.p.paint("Manual follow-up: meshwave cannot restart these; move them by hand now:", sgrYellow) +
				followUpLines(e.ManualFollowUp, "    ", false)
			a.followUps = append(a.followUps, e.ManualFollowUp...)
		}
		return line
	case executor.EventWaveFailed:
		return a.p.paint(fmt.Sprintf("Wave %q failed: %s", e.Wave, e.Error), sgrRed, sgrBold)
	case executor.EventRollbackStart:
		what := "everything"
		if e.Wave != "" {
			what = fmt.Sprintf("wave %q", e.Wave)
		}
		return "\n" + a.p.paint("Rolling back "+what+" "+e.Message, sgrYellow, sgrBold)
	case executor.EventRollbackDone:
		return a.p.paint("Rollback complete. "+e.Message, sgrYellow)
	case executor.EventInterrupted:
		return a.p.paint("\nInterrupted: "+e.Message, sgrYellow, sgrBold)
	case executor.EventApplyDone:
		return "\n" + a.p.paint(fmt.Sprintf("Apply complete! %s. [%s]", totalsText(e.Totals), roundDuration(e.Elapsed)), sgrGreen, sgrBold) +
			a.followUpSummary()
	}
	return fmt.Sprintf("%s%s %s %s", indent, e.Kind, a.subject(e), e.Message)
}

// followUpSummary repeats, at the end of the run, every finished wave's
// manual follow-up, where nobody misses them.
func (a *humanApply) followUpSummary() string {
	n := len(a.followUps)
	if n == 0 {
		return ""
	}
	them := "them"
	if n == 1 {
		them = "it"
	}
	return "\n\n" + a.p.paint(fmt.Sprintf("Manual follow-up: apply left %s to you (a restart cannot roll %s):",
		count(n, "workload", "workloads"), them), sgrYellow, sgrBold) +
		followUpLines(a.followUps, "  ", true)
}

// followUpLines lists follow-ups, each on a line after indent with what
// to do below it; withWave names the wave of each.
func followUpLines(fs []plan.FollowUp, indent string, withWave bool) string {
	var b strings.Builder
	for _, f := range fs {
		head := followUpHead(f, plainMarkup{})
		if withWave {
			head = fmt.Sprintf("[%s] %s", f.Wave, head)
		}
		b.WriteString("\n" + indent + head + "\n" + indent + "  " + f.Manual)
	}
	return b.String()
}

func totalsText(t *executor.Totals) string {
	if t == nil {
		return "no steps"
	}
	parts := []string{fmt.Sprintf("%d changed", t.Changed), fmt.Sprintf("%d unchanged", t.Unchanged)}
	if t.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", t.Failed))
	}
	if t.RolledBack > 0 {
		parts = append(parts, fmt.Sprintf("%d rolled back", t.RolledBack))
	}
	if t.Pending > 0 {
		parts = append(parts, fmt.Sprintf("%d pending", t.Pending))
	}
	return strings.Join(parts, ", ")
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}
