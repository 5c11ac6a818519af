package views

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshwave/meshwave/executor"
	"github.com/meshwave/meshwave/plan"
)

// humanApply renders executor events as Terraform-like streaming lines:
//
//	demo-a/app-a: restarting...
//	demo-a/app-a: still restarting... [10s elapsed] 0/1 pods updated
//	demo-a/app-a: restart complete after 12s
type humanApply struct {
	w io.Writer
	p painter
	// followUps are the finished waves' manual follow-ups, repeated at the
	// end of the run where nobody misses them.
	followUps []plan.FollowUp
}

var _ Apply = (*humanApply)(nil)

// Plan shows p as plan does, before apply asks to confirm it.
func (a *humanApply) Plan(p *plan.Plan) error { return Human(a.w, p, HumanOptions{Color: a.p.on}) }

// verbs says, per step kind, what a running step is doing and what a
// finished one did.
var verbs = map[plan.StepKind][2]string{
	plan.StepTagMove:          {"moving revision tag", "revision tag moved"},
	plan.StepGatewayMigrate:   {"moving gateway", "gateway moved"},
	plan.StepNamespaceRelabel: {"relabeling", "relabeled"},
	plan.StepWorkloadRestart:  {"restarting", "restart complete"},
	plan.StepWaveWait:         {"waiting for rollouts", "rollouts complete"},
	plan.StepWaveVerify:       {"verifying proxies", "proxies verified"},
	plan.StepGate:             {"checking", "passed"},
	plan.StepUninstall:        {"uninstalling", "uninstalled"},
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
	line, ok := a.stepLine(e, indent)
	if !ok {
		line = a.runLine(e, indent)
	}
	fmt.Fprintln(a.w, strings.TrimRight(line, " "))
}

// stepLine is the line of an event about one step; ok is false for the
// other events.
func (a *humanApply) stepLine(e executor.Event, indent string) (line string, ok bool) {
	v := verbs[e.StepKind]
	switch e.Kind {
	case executor.EventStepStart:
		line = fmt.Sprintf("%s%s: %s...", indent, a.subject(e), v[0])
	case executor.EventStepProgress:
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
