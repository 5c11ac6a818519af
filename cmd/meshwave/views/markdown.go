package views

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshwave/meshwave/plan"
)

// markdownBudget is the most characters (bytes, which are never fewer)
// the markdown plan takes. GitHub takes at most 65,536 in a pull-request
// comment; the rest is room for what the workflow posting it adds around it
// (examples/ci: a marker, the run and the artifact).
const markdownBudget = 60_000

// mdRowsShown is how many rows each long table (checks, waves, manual
// follow-up) and each wave's opted-out lines keep in a plan summarized to
// fit markdownBudget.
const mdRowsShown = 20

// mdLimits are what a summarized markdown plan leaves out; the zero value
// leaves out nothing.
type mdLimits struct {
	rows int // each long table's rows, then a line counting the others; 0: every row
	// waveCounts: a wave's relabels, restarts and evictions as counts per
	// kind of object, without names.
	waveCounts bool
}

// mdSummaries are the ways a plan too long for a comment is summarized,
// each leaving out more than the one before; the first that fits is used.
var mdSummaries = []mdLimits{
	{rows: mdRowsShown},
	{rows: mdRowsShown, waveCounts: true},
}

// Markdown writes p for a pull-request comment (GitHub-flavored markdown):
// a title with the revisions, the total, the checks as a table, a summary
// table of the waves, and each section's steps in a collapsible
// <details> block. It never writes ANSI escapes.
//
// A plan whose markdown would be longer than markdownBudget is summarized
// (mdSummaries), with a note at the top saying so and where the full plan
// is; as a last resort the sections at the end that do not fit are left
// out, and counted. The output is the same for the same plan.
func Markdown(w io.Writer, p *plan.Plan) error {
	p = printable(p)
	secs := sections(p)
	blocks := markdownBlocks(p, secs, mdLimits{})
	out := strings.Join(blocks, "")
	if len(out) > markdownBudget {
		out = summarizedMarkdown(p, secs, len(out))
	}
	_, err := io.WriteString(w, out)
	return err
}

// summarizedMarkdown is p's markdown within markdownBudget; full is the
// length of its whole markdown.
func summarizedMarkdown(p *plan.Plan, secs []section, full int) string {
	var blocks []string
	for _, lim := range mdSummaries {
		blocks = markdownBlocks(p, secs, lim)
		out := withNote(blocks, mdNote(full, lim, 0))
		if len(out) <= markdownBudget {
			return out
		}
	}
	// Leave out whole blocks from the end, so that what remains is still
	// well-formed markdown, until what is left and the note fit.
	lim := mdSummaries[len(mdSummaries)-1]
	size := 0
	for _, b := range blocks {
		size += len(b)
	}
	kept := len(blocks)
	for kept > 1 && size+len(mdNote(full, lim, len(blocks)-kept)) > markdownBudget {
		kept--
		size -= len(blocks[kept])
	}
	return withNote(blocks[:kept], mdNote(full, lim, len(blocks)-kept))
}

// withNote puts note after the first block, the title and total.
func withNote(blocks []string, note string) string {
	return blocks[0] + note + strings.Join(blocks[1:], "")
}

// mdNote says that the plan was summarized, how, and where the full plan is.
func mdNote(full int, lim mdLimits, omitted int) string {
	m := mdMarkup{}
	how := fmt.Sprintf("long tables show their first %d rows", lim.rows)
	if lim.waveCounts {
		how += " and each wave counts its steps by kind"
	}
	if omitted > 0 {
		how += fmt.Sprintf("; the last %s are left out", count(omitted, "section", "sections"))
	}
	return "\n> [!NOTE]\n> " + m.text(fmt.Sprintf("The full plan is %d characters, more than a pull-request comment holds, so %s. ", full, how)) +
		m.text("The full plan: ") + m.code("meshwave show -format=markdown PLANFILE") +
		m.text(" of the saved plan (in CI, the plan job's artifact); every step: ") + m.code("meshwave show -json PLANFILE") + m.text(".") + "\n"
}

// markdownBlocks is p's markdown in blocks that each end a markdown
// element, so that any prefix of them is well-formed: the title and total
// first, then the checks, the settings, the waves, the manual follow-up,
// the note on grouping, and each section's steps (secs, p's sections).
func markdownBlocks(p *plan.Plan, secs []section, lim mdLimits) []string {
	var blocks []string
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	end := func() {
		if b.Len() > 0 {
			blocks = append(blocks, b.String())
			b.Reset()
		}
	}
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
	end()

	if len(p.Checks) > 0 {
		line("")
		line("#### Checks")
		line("")
		line("| Severity | Code | Object | Message | Hint |")
		line("|---|---|---|---|---|")
		shown := shownChecks(p.Checks, lim.rows)
		for _, c := range shown {
			sev := m.text(string(c.Severity))
			if c.Severity == plan.SeverityError {
				sev = "**" + sev + "**"
			}
			msg, hint := c.Message, c.Hint
			if lim.rows > 0 {
				msg, hint = clipped(msg), clipped(hint)
			}
			msg = m.text(msg)
			if c.Range != nil {
				msg += m.text(" (at ") + m.code(rangeText(*c.Range)) + m.text(")")
			}
			line("| %s | %s | %s | %s | %s |", sev, m.code(c.Code), checkObject(c, m), msg, m.text(hint))
		}
		if len(shown) < len(p.Checks) {
			line("")
			line("%s", checksLeftOut(p.Checks, shown, m))
		}
	}
	end()

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
	end()

	if len(p.Summary.Waves) > 0 {
		line("")
		line("#### Waves")
		line("")
		// Changes counts the wave's steps that change the cluster; the
		// summary's counts include namespaces and workloads already on
		// the target.
		line("| Wave | Namespaces | Workloads | Pods | Proxy | Changes |")
		line("|---|--:|--:|--:|---|--:|")
		waves := bounded(p.Summary.Waves, lim.rows)
		waveChanges := map[string]int{}
		for _, sec := range secs {
			if sec.wave != "" {
				waveChanges[sec.wave] = changes(sec.steps)
			}
		}
		for _, ws := range waves {
			proxy := ""
			if ws.FromImage != "" || ws.ToImage != "" {
				proxy = move(proxyVersion(ws.FromImage), proxyVersion(ws.ToImage), m)
			}
			line("| %s | %d | %d | %d | %s | %d |", m.code(ws.Name), ws.Namespaces, ws.Workloads, ws.Pods, proxy, waveChanges[ws.Name])
		}
		if more := len(p.Summary.Waves) - len(waves); more > 0 {
			line("")
			line("%s", m.text("and "+count(more, "more wave", "more waves")+"."))
		}
	}
	end()

	if len(p.ManualFollowUp) > 0 {
		line("")
		line("#### Manual follow-up")
		line("")
		line("%s", m.text(followUpTotal(p)))
		line("")
		line("| Wave | Object | Pods | Why | What to do |")
		line("|---|---|--:|---|---|")
		shown := bounded(p.ManualFollowUp, lim.rows)
		for _, f := range shown {
			line("| %s | %s | %d | %s | %s |", m.code(f.Wave), objectText(&f.Object, "", m), f.Pods, m.text(f.Reason), m.text(f.Manual))
		}
		if len(shown) < len(p.ManualFollowUp) {
			line("")
			line("%s", followUpsLeftOut(p.ManualFollowUp[len(shown):], m))
		}
	}
	end()

	if lim.waveCounts || grouped(secs) {
		line("")
		line("%s", mdEveryStep(m))
	}
	end()
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
		items := sectionItems(sec)
		if lim.waveCounts {
			items = countedItems(sec)
		}
		for _, it := range items {
			switch {
			case it.group == nil:
				t := describe(it.step, m)
				head := t.head
				if t.noop {
					head = "_" + head + "_"
				}
				line("| %s | %s | %s |", t.symbol, head, strings.Join(t.details, "<br>"))
			case lim.waveCounts:
				g := countGroup(it.group, m)
				line("| %s | %s | %s |", g.symbol, g.head, strings.Join(g.details, "<br>"))
			default:
				// A browser wraps the names; their bound is the human view's.
				g := describeGroup(it.group, m)
				head := g.head
				if g.noop {
					head = "_" + head + "_"
				}
				names := strings.Join(boundedNames(g.namesHead, g.names, groupNamesWidth, groupNameLines, m), " ")
				line("| %s | %s | %s |", g.symbol, head, strings.Join(append(g.details, names), "<br>"))
			}
		}
		if sec.wave != "" {
			lines := optedOutLines(p, sec.wave, m)
			shown := bounded(lines, lim.rows)
			for _, l := range shown {
				line("| | _%s_ | |", l)
			}
			if more := len(lines) - len(shown); more > 0 {
				line("| | _%s_ | |", m.text("and "+count(more, "more namespace", "more namespaces")+" with workloads opted out of injection"))
			}
		}
		line("")
		line("</details>")
		end()
	}
	return blocks
}

// mdCellShown bounds the text of a check's message and hint in a
// summarized plan: a message can name every object it concerns.
const mdCellShown = 600

// clipped is s cut to mdCellShown characters, with an ellipsis when cut.
func clipped(s string) string {
	if utf8.RuneCountInString(s) <= mdCellShown {
		return s
	}
	return string([]rune(s)[:mdCellShown]) + "…"
}

// bounded is the first n of items, or all of them when n is 0.
func bounded[T any](items []T, n int) []T {
	if n > 0 && len(items) > n {
		return items[:n]
	}
	return items
}

// shownChecks are the first n checks, errors first (they block apply),
// each severity in plan order; all of them when n is 0.
func shownChecks(checks []plan.Check, n int) []plan.Check {
	if n == 0 || len(checks) <= n {
		return checks
	}
	out := make([]plan.Check, 0, n)
	for _, errorsPass := range []bool{true, false} {
		for _, c := range checks {
			if len(out) == n {
				return out
			}
			if (c.Severity == plan.SeverityError) == errorsPass {
				out = append(out, c)
			}
		}
	}
	return out
}

// checksLeftOut counts the checks a summarized table leaves out, by code:
// "and 230 more checks: MW011 (warning) × 229, MW007 (warning) × 1.".
func checksLeftOut(all, shown []plan.Check, m mdMarkup) string {
	type key struct {
		code string
		sev  plan.Severity
	}
	left := map[key]int{}
	for _, c := range all {
		left[key{c.Code, c.Severity}]++
	}
	for _, c := range shown {
		left[key{c.Code, c.Severity}]--
	}
	keys := make([]key, 0, len(left))
	for k, n := range left {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.code, b.code), cmp.Compare(a.sev, b.sev))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = m.code(k.code) + m.text(fmt.Sprintf(" (%s) × %d", k.sev, left[k]))
	}
	return m.text(fmt.Sprintf("and %s: ", count(len(all)-len(shown), "more check", "more checks"))) +
		strings.Join(parts, m.text(", ")) + m.text(".")
}

// followUpsLeftOut counts the follow-ups a summarized table leaves out, by
// wave in plan order: "and 230 more: 12 in canary, 218 in tiers.".
func followUpsLeftOut(left []plan.FollowUp, m mdMarkup) string {
	var waves []string
	per := map[string]int{}
	for _, f := range left {
		if per[f.Wave] == 0 {
			waves = append(waves, f.Wave)
		}
		per[f.Wave]++
	}
	parts := make([]string, len(waves))
	for i, w := range waves {
		parts[i] = m.text(fmt.Sprintf("%d in ", per[w])) + m.code(w)
	}
	return m.text(fmt.Sprintf("and %d more: ", len(left))) + strings.Join(parts, m.text(", ")) + m.text(".")
}

// countedKinds are the step kinds a wave counts instead of listing when a
// plan is summarized: those it has one of per namespace or workload.
var countedKinds = map[plan.StepKind]bool{
	plan.StepNamespaceRelabel: true,
	plan.StepWorkloadRestart:  true,
	plan.StepWorkloadEvict:    true,
}

// countedItems are sec's steps with those of countedKinds in one group per
// kind, kind of object and whether they change anything, where its first
// step is; the others (the wait, the verify, the gates) as they are.
func countedItems(sec section) []sectionItem {
	var items []sectionItem
	groups := map[string]*stepGroup{}
	for _, s := range sec.steps {
		if !countedKinds[s.Kind] {
			items = append(items, sectionItem{step: s})
			continue
		}
		objKind := ""
		if s.Object != nil {
			objKind = s.Object.Kind
		}
		noop := s.Action == plan.ActionNoop
		key := string(s.Kind) + "\x00" + objKind + "\x00" + strconv.FormatBool(noop)
		g, ok := groups[key]
		if !ok {
			g = &stepGroup{kind: s.Kind, noop: noop}
			groups[key] = g
			items = append(items, sectionItem{group: g})
		}
		g.steps = append(g.steps, s)
	}
	return items
}

// countGroup is a counted group's row: "~ | 990 Namespaces | relabeled",
// "↻ | 2,970 Deployments | restarted, 5,940 pods".
func countGroup(g *stepGroup, m mdMarkup) stepText {
	first := g.steps[0]
	objKind := "step"
	if first.Object != nil && first.Object.Kind != "" {
		objKind = first.Object.Kind
	}
	t := stepText{symbol: symbolOf(first.Action), head: m.text(count(len(g.steps), objKind, plural(objKind))), noop: g.noop}
	if g.noop {
		t.symbol = ""
		t.head = "_" + t.head + m.text(" (no change)") + "_"
		return t
	}
	pods := 0
	for _, s := range g.steps {
		pods += s.Pods
	}
	switch g.kind {
	case plan.StepNamespaceRelabel:
		t.details = []string{m.text("relabeled")}
	case plan.StepWorkloadRestart:
		t.details = []string{m.text("restarted, " + count(pods, "pod", "pods"))}
	case plan.StepWorkloadEvict:
		t.details = []string{m.text("pods evicted one at a time, " + count(pods, "pod", "pods"))}
	}
	return t
}

// mdEveryStep is everyStepNote with its commands as code spans.
func mdEveryStep(m mdMarkup) string {
	return m.text("Steps of one kind are grouped where a wave has more than "+strconv.Itoa(itemizeUpTo)+" of them; every step: ") +
		m.code("meshwave plan -json") + m.text(", or ") + m.code("meshwave show -json PLANFILE") + m.text(" for a saved plan.")
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
