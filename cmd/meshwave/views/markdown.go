package views

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/meshwave/meshwave/plan"
)

// Markdown writes p for a pull-request comment (GitHub-flavored markdown):
// a title with the revisions, the total, the checks as a table, a summary
// table of the waves, and each section's steps in a collapsible
// <details> block. It never writes ANSI escapes.
func Markdown(w io.Writer, p *plan.Plan) error {
	p = printable(p)
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	m := mdMarkup{}

	line("### meshwave plan: %s → %s", m.code(p.From), m.code(p.To))
	line("")
	if p.HasChanges() {
		line("**Plan:** %s", m.text(totalLine(p.Summary)))
	} else if deletedCount(p) > 0 {
		head, rest := nothingToApply(p)
		line("**%s** %s", head, m.text(rest))
	} else {
		line("**No changes.** The data plane already runs %s.", m.code(p.To))
	}
	line("")
	line("Flavor: %s · format %s", m.code(string(p.Flavor)), m.code(p.FormatVersion))
	if p.FromVersion != "" || p.ToVersion != "" {
		line("")
		line("Istio: %s → %s", m.code(revisionText(p.From, p.FromVersion)), m.code(revisionText(p.To, p.ToVersion)))
	}

	if p.Blocked() {
		line("")
		line("> [!CAUTION]")
		line("> Apply is blocked by %s. Fix the checks below and plan again.",
			count(p.Summary.Errors, "error", "errors"))
	}

	if len(p.Checks) > 0 {
		line("")
		line("#### Checks")
		line("")
		line("| Severity | Code | Object | Message | Hint |")
		line("|---|---|---|---|---|")
		for _, c := range p.Checks {
			sev := m.text(string(c.Severity))
			if c.Severity == plan.SeverityError {
				sev = "**" + sev + "**"
			}
			msg := m.text(c.Message)
			if c.Range != nil {
				msg += m.text(" (at ") + m.code(rangeText(*c.Range)) + m.text(")")
			}
			line("| %s | %s | %s | %s | %s |", sev, m.code(c.Code), checkObject(c, m), msg, m.text(c.Hint))
		}
	}

	if d := p.Settings; d != nil {
		line("")
		line("#### Settings")
		line("")
		line("%s", settingsHead(p, m))
		line("")
		line("| Source | Setting | %s | %s |", m.code(p.From), m.code(p.To))
		line("|---|---|---|---|")
		for _, c := range d.Changes {
			line("| %s | %s | %s | %s |", m.text(c.Source), m.code(c.Path), settingValue(c.From, m), settingValue(c.To, m))
		}
		if notes := settingsNotes(d, m); len(notes) > 0 {
			line("")
			line("%s", strings.Join(notes, " "))
		}
	}

	if len(p.Summary.Waves) > 0 {
		line("")
		line("#### Waves")
		line("")
		line("| Wave | Namespaces | Workloads | Pods | Proxy | Changes |")
		line("|---|--:|--:|--:|---|--:|")
		for _, ws := range p.Summary.Waves {
			proxy := ""
			if ws.FromImage != "" || ws.ToImage != "" {
				proxy = move(proxyVersion(ws.FromImage), proxyVersion(ws.ToImage), m)
			}
			line("| %s | %d | %d | %d | %s | %d |", m.code(ws.Name), ws.Namespaces, ws.Workloads, ws.Pods, proxy, waveChanges(p, ws.Name))
		}
	}

	if len(p.ManualFollowUp) > 0 {
		line("")
		line("#### Manual follow-up")
		line("")
		line("%s", m.text(followUpTotal(p)))
		line("")
		line("| Wave | Object | Pods | Why | What to do |")
		line("|---|---|--:|---|---|")
		for _, f := range p.ManualFollowUp {
			line("| %s | %s | %d | %s | %s |", m.code(f.Wave), objectText(&f.Object, "", m), f.Pods, m.text(f.Reason), m.text(f.Manual))
		}
	}

	secs := sections(p)
	if grouped(secs) {
		line("")
		line("%s", mdEveryStep(m))
	}
	for _, sec := range secs {
		line("")
		// <summary> is HTML: markdown is not rendered inside it.
		var summary string
		if sec.wave == "" {
			n := "no changes"
			if c := changes(sec.steps); c > 0 {
				n = count(c, "change", "changes")
			}
			summary = "<b>" + html.EscapeString(sec.title) + "</b>: " + n
		} else {
			summary = "<b>Wave <code>" + html.EscapeString(sec.wave) + "</code></b>: " +
				html.EscapeString(waveHeader(p, sec, plainMarkup{}))
		}
		line("<details><summary>%s</summary>", summary)
		line("")
		line("| | Step | Change |")
		line("|:-:|---|---|")
		for _, it := range sectionItems(sec) {
			if it.group == nil {
				t := describe(it.step, m)
				head := t.head
				if t.noop {
					head = "_" + head + "_"
				}
				line("| %s | %s | %s |", t.symbol, head, strings.Join(t.details, "<br>"))
				continue
			}
			// A browser wraps the names; their bound is the human view's.
			g := describeGroup(it.group, m)
			head := g.head
			if g.noop {
				head = "_" + head + "_"
			}
			names := strings.Join(boundedNames(g.namesHead, g.names, groupNamesWidth, groupNameLines, m), " ")
			line("| %s | %s | %s |", g.symbol, head, strings.Join(append(g.details, names), "<br>"))
		}
		if sec.wave != "" {
			for _, l := range optedOutLines(p, sec.wave, m) {
				line("| | _%s_ | |", l)
			}
		}
		line("")
		line("</details>")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEveryStep is everyStepNote with its commands as code spans.
func mdEveryStep(m mdMarkup) string {
	return m.text("Steps of one kind are grouped where a wave has more than "+strconv.Itoa(itemizeUpTo)+" of them; every step: ") +
		m.code("meshwave plan -json") + m.text(", or ") + m.code("meshwave show -json PLANFILE") + m.text(" for a saved plan.")
}

// waveChanges counts the wave's steps that change the cluster; the summary's
// counts include namespaces and workloads already on the target.
func waveChanges(p *plan.Plan, wave string) int {
	ph, _ := p.WavePhase(wave)
	return changes(p.PhaseSteps(ph))
}

// mdMarkup writes values as code spans and escapes prose for a table cell.
type mdMarkup struct{}

func (mdMarkup) code(s string) string {
	if s == "" {
		return ""
	}
	// A pipe ends a table cell even inside a code span unless escaped; a
	// backtick would end the span, so such values fall back to prose.
	if strings.Contains(s, "`") {
		return mdMarkup{}.text(s)
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "<", "&lt;", ">", "&gt;", "&", "&amp;",
	"*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`,
	"\r\n", " ", "\n", " ",
)

func (mdMarkup) text(s string) string { return mdEscaper.Replace(s) }
