package views

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/meshwave/meshwave/plan"
)

// The parts of a plan's text views above and around its steps: the phase
// sections and wave headers, deleted and opted-out namespaces, manual
// follow-up, the total line, the settings that differ between revisions.

// section is the steps shown under one heading: one phase of the plan (the
// revision tags, the gateways, one wave, or finalize).
type section struct {
	wave  string // set for a wave
	title string // "Gateways", "Finalize"; empty for a wave
	steps []plan.Step
}

// phaseTitles head the phases outside waves.
var phaseTitles = map[plan.PhaseKind]string{
	plan.PhaseInstall:  "Control plane install",
	plan.PhaseTags:     "Revision tags",
	plan.PhaseGateways: "Gateways",
	plan.PhaseFinalize: "Finalize",
}

// sections are the plan's phases, in order.
func sections(p *plan.Plan) []section {
	out := make([]section, 0, len(p.Phases))
	for _, ph := range p.Phases {
		sec := section{wave: ph.Wave, steps: p.PhaseSteps(ph)}
		if ph.Kind != plan.PhaseWave {
			sec.title = phaseTitles[ph.Kind]
		}
		out = append(out, sec)
	}
	return out
}

func waveSummary(p *plan.Plan, name string) (plan.WaveSummary, bool) {
	for _, w := range p.Summary.Waves {
		if w.Name == name {
			return w, true
		}
	}
	return plan.WaveSummary{}, false
}

// waveHeader is what a wave's heading says after its name: "1 namespace,
// 1 workload, 1 pod, proxy 1.6.3-bzc → 1.7.0-bzc", or "no changes" when none
// of its steps changes anything (the summary counts every namespace and
// workload the wave covers, no-ops included). A namespace deleted during the
// upgrade is named instead: a wave that lost one has not "no changes".
func waveHeader(p *plan.Plan, sec section, m markup) string {
	w, ok := waveSummary(p, sec.wave)
	gone := deletedText(w.Deleted)
	if changes(sec.steps) == 0 {
		if gone != "" {
			return m.text(gone)
		}
		return m.text("no changes")
	}
	if !ok {
		return m.text(count(changes(sec.steps), "change", "changes"))
	}
	t := m.text(count(w.Namespaces, "namespace", "namespaces") + ", " +
		count(w.Workloads, "workload", "workloads") + ", " +
		count(w.Pods, "pod", "pods"))
	if w.FromImage != "" || w.ToImage != "" {
		t += m.text(", proxy ") + move(proxyVersion(w.FromImage), proxyVersion(w.ToImage), m)
	}
	if gone != "" {
		t += m.text("; " + gone)
	}
	return t
}

// deletedText names a wave's namespaces deleted during the upgrade:
// "deleted during the upgrade: namespace demo-b (terminating)".
func deletedText(ds []plan.DeletedNamespace) string {
	if len(ds) == 0 {
		return ""
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Name + " (" + d.State + ")"
	}
	word := "namespace"
	if len(ds) > 1 {
		word = "namespaces"
	}
	return "deleted during the upgrade: " + word + " " + strings.Join(parts, ", ")
}

// deletedCount is how many namespaces of the plan's waves were deleted
// during the upgrade.
func deletedCount(p *plan.Plan) int {
	n := 0
	for _, w := range p.Summary.Waves {
		n += len(w.Deleted)
	}
	return n
}

// nothingToApply is the plan's last line when it changes nothing: "No
// changes" only when no namespace went away during the upgrade.
func nothingToApply(p *plan.Plan) (head, rest string) {
	if n := deletedCount(p); n > 0 {
		return "Nothing to apply.", fmt.Sprintf("The data plane runs %s, except %s deleted during the upgrade (%s).",
			p.To, count(n, "namespace", "namespaces"), plan.CodeNamespaceDeleted)
	}
	return "No changes.", fmt.Sprintf("The data plane already runs %s.", p.To)
}

// optedOutShown bounds how many workloads an opted-out line names.
const optedOutShown = 5

// optedOutLines are a wave's workloads that opt out of injection, one line
// per namespace: "namespace legacy: Deployment batch, StatefulSet cache
// (opted out of injection: not restarted or verified)".
func optedOutLines(p *plan.Plan, wave string, m markup) []string {
	w, _ := waveSummary(p, wave)
	var out []string
	for _, o := range w.OptedOut {
		names := make([]string, 0, optedOutShown)
		for i, ref := range o.Workloads {
			if i == optedOutShown {
				names = append(names, m.text(fmt.Sprintf("and %d more", len(o.Workloads)-optedOutShown)))
				break
			}
			names = append(names, m.text(ref.Kind+" ")+m.code(ref.Name))
		}
		out = append(out, m.text("namespace ")+m.code(o.Namespace)+m.text(": ")+strings.Join(names, m.text(", "))+
			m.text(" (opted out of injection: not restarted or verified)"))
	}
	return out
}

// waveFollowUps are the manual follow-ups of a wave, in plan order.
func waveFollowUps(p *plan.Plan, wave string) []plan.FollowUp {
	var out []plan.FollowUp
	for _, f := range p.ManualFollowUp {
		if f.Wave == wave {
			out = append(out, f)
		}
	}
	return out
}

// followUpHead is "StatefulSet demo/db, 2 pods: StatefulSet uses the
// OnDelete update strategy".
func followUpHead(f plan.FollowUp, m markup) string {
	return objectText(&f.Object, "", m) + m.text(", "+count(f.Pods, "pod", "pods")+": "+f.Reason)
}

// followUpTotal says how many workloads the plan leaves to the person
// applying it.
func followUpTotal(p *plan.Plan) string {
	n := len(p.ManualFollowUp)
	stay, them, their := "stay", "them", "their"
	if n == 1 {
		stay, them, their = "stays", "it", "its"
	}
	return fmt.Sprintf("%s cannot be restarted by meshwave and %s on %s until you move %s by hand after %s wave.",
		count(n, "workload", "workloads"), stay, p.From, them, their)
}

// totalLine is the one-line total of a plan with changes; tags and
// evictions are named only when the plan has some.
func totalLine(s plan.Summary) string {
	tags := ""
	if s.Tags > 0 {
		tags = count(s.Tags, "revision tag", "revision tags") + " and "
	}
	evict := ""
	if s.Evict > 0 {
		evict = ", " + count(s.Evict, "workload", "workloads") + " to roll by eviction"
	}
	if s.Install > 0 {
		tags = count(s.Install, "object", "objects") + " to install, " + tags
	}
	return tags + fmt.Sprintf("%s to move, %s to relabel, %s to restart%s, %s to uninstall.",
		count(s.Gateways, "gateway", "gateways"),
		count(s.Relabel, "namespace", "namespaces"),
		count(s.Restart, "workload", "workloads"),
		evict,
		count(s.Uninstall, "control plane", "control planes"))
}

// changes counts the steps that change the cluster.
func changes(steps []plan.Step) int {
	n := 0
	for _, s := range steps {
		if symbolOf(s.Action) != "" {
			n++
		}
	}
	return n
}

func checkObject(c plan.Check, m markup) string {
	if c.Object == nil {
		return ""
	}
	return objectText(c.Object, "", m)
}

// revisionText is "1-27 (Istio 1.27.1)", or the revision alone when its
// version is unknown.
func revisionText(rev, version string) string {
	if version == "" {
		return rev
	}
	return rev + " (Istio " + version + ")"
}

// rangeText is "upgrade.mw.hcl:1,1-8", a check's place in the plan's files.
func rangeText(r hcl.Range) string { return r.String() }

// settingsHead introduces the settings that differ between the revisions:
// a new revision starts from its own settings, so one made by hand on the
// old revision is lost unless it is made on the new one too.
func settingsHead(p *plan.Plan, m markup) string {
	return m.text("Settings that differ between ") + m.code(p.From) + m.text(" and ") + m.code(p.To) +
		m.text(" (they do not carry over between revisions, istio#51310):")
}

// settingValue is a setting's value as JSON text, or "(unset)".
func settingValue(v string, m markup) string {
	if v == "" {
		return m.text("(unset)")
	}
	return m.code(v)
}

// settingsLines are the plan's setting differences, one line each
// ("mesh: defaultConfig.holdApplicationUntilProxyStarts: true → (unset)"),
// then how many more there are and whether the comparison was cut short.
func settingsLines(p *plan.Plan, m markup) []string {
	d := p.Settings
	if d == nil {
		return nil
	}
	out := make([]string, 0, len(d.Changes)+2)
	for _, c := range d.Changes {
		out = append(out, m.text(c.Source+": ")+m.code(c.Path)+m.text(": ")+settingValue(c.From, m)+m.text(" → ")+settingValue(c.To, m))
	}
	out = append(out, settingsNotes(d, m)...)
	return out
}

// settingsNotes say what the listing leaves out.
func settingsNotes(d *plan.SettingsDiff, m markup) []string {
	var out []string
	if d.More > 0 {
		out = append(out, m.text(fmt.Sprintf("and %d more", d.More)))
	}
	if d.Incomplete {
		out = append(out, m.text(fmt.Sprintf("(a revision has more than %d settings: only the first %d were compared)", plan.MaxSettings, plan.MaxSettings)))
	}
	return out
}
