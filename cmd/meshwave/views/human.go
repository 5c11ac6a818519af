package views

import (
	"fmt"
	"io"
	"strings"

	"github.com/meshwave/meshwave/plan"
)

// HumanOptions configure the human view.
type HumanOptions struct {
	// Color adds ANSI colors; set it from ColorEnabled.
	Color bool
}

// Human writes p the way `meshwave plan` shows it on a terminal: check
// results first, then the steps grouped as gateways, waves and finalize, and
// a one-line total.
func Human(w io.Writer, p *plan.Plan, opts HumanOptions) error {
	p = printable(p)
	c := painter{on: opts.Color}
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }

	line("%s %s → %s (%s)", c.paint("Upgrade", sgrBold), revisionText(p.From, p.FromVersion), revisionText(p.To, p.ToVersion), p.Flavor)

	for _, ck := range p.Checks {
		line("")
		label := c.paint("Warning:", sgrBold, sgrYellow)
		if ck.Severity == plan.SeverityError {
			label = c.paint("Error:", sgrBold, sgrRed)
		}
		head := label + " [" + ck.Code + "]"
		if obj := checkObject(ck, plainMarkup{}); obj != "" {
			head += " " + obj
		}
		line("%s", head)
		line("  %s", ck.Message)
		if ck.Range != nil {
			line("  At: %s", rangeText(*ck.Range))
		}
		if ck.Hint != "" {
			line("  Hint: %s", ck.Hint)
		}
	}

	if lines := settingsLines(p, plainMarkup{}); len(lines) > 0 {
		line("")
		line("%s", c.paint(settingsHead(p, plainMarkup{}), sgrBold))
		for _, l := range lines {
			line("  %s", l)
		}
	}

	secs := sections(p)
	groupNote := func() {
		if grouped(secs) {
			for _, l := range everyStepNote {
				line("%s", l)
			}
		}
	}
	if p.HasChanges() {
		line("")
		line("Actions are shown with these symbols:")
		used := usedSymbols(p)
		for _, l := range legend {
			if used[l.symbol] {
				line("  %s %s", symbolPaint(c, l.symbol), l.meaning)
			}
		}
		groupNote()
		line("")
		if p.Blocked() {
			line("meshwave would perform the following actions once the errors above are fixed:")
		} else {
			line("meshwave will perform the following actions:")
		}
	} else if len(secs) > 0 {
		line("")
		line("These are already on %s:", p.To)
		groupNote()
	}

	for _, sec := range secs {
		line("")
		if sec.wave == "" {
			line("%s", c.paint(sec.title+":", sgrBold))
		} else {
			line("%s: %s", c.paint(fmt.Sprintf("Wave %q", sec.wave), sgrBold), waveHeader(p, sec, plainMarkup{}))
		}
		for _, it := range sectionItems(sec) {
			var t stepText
			var names []string
			if it.group != nil {
				g := describeGroup(it.group, plainMarkup{})
				t = g.stepText
				names = boundedNames(g.namesHead, g.names, groupNamesWidth, groupNameLines, plainMarkup{})
			} else {
				t = describe(it.step, plainMarkup{})
			}
			switch {
			case t.noop:
				line("    %s", c.paint(t.head, sgrDim))
			case t.read:
				line("    %s", t.head)
			default:
				sym := t.symbol
				if sym == "" {
					sym = " "
				}
				line("  %s %s", symbolPaint(c, sym), t.head)
			}
			for _, d := range t.details {
				line("      %s", d)
			}
			for _, n := range names {
				if t.noop {
					n = c.paint(n, sgrDim)
				}
				line("      %s", n)
			}
		}
		if sec.wave != "" {
			for _, l := range optedOutLines(p, sec.wave, plainMarkup{}) {
				line("    %s", c.paint(l, sgrDim))
			}
		}
		if fs := waveFollowUps(p, sec.wave); sec.wave != "" && len(fs) > 0 {
			line("  %s", c.paint("Manual follow-up (apply does not restart, wait for or verify these):", sgrYellow))
			for _, f := range fs {
				line("    %s", followUpHead(f, plainMarkup{}))
				line("      %s", f.Manual)
			}
		}
	}

	line("")
	if len(p.ManualFollowUp) > 0 {
		line("%s %s", c.paint("Manual follow-up:", sgrBold, sgrYellow), followUpTotal(p))
	}
	if p.HasChanges() {
		line("%s %s", c.paint("Plan:", sgrBold), totalLine(p.Summary))
	} else {
		head, rest := nothingToApply(p)
		line("%s %s", c.paint(head, sgrBold, sgrGreen), rest)
	}
	if p.Blocked() {
		line("")
		line("%s apply is blocked by %s; fix the checks above and plan again.",
			c.paint("Error:", sgrBold, sgrRed), count(p.Summary.Errors, "error", "errors"))
	}

	_, err := io.WriteString(w, b.String())
	return err
}

func symbolPaint(c painter, sym string) string {
	switch sym {
	case symbolUpdate:
		return c.paint(sym, sgrYellow)
	case symbolRestart, symbolEvict:
		return c.paint(sym, sgrCyan)
	case symbolDelete:
		return c.paint(sym, sgrRed)
	}
	return sym
}

// usedSymbols are the symbols of the plan's changing steps, so the legend
// explains only what the plan shows.
func usedSymbols(p *plan.Plan) map[string]bool {
	used := map[string]bool{}
	for _, s := range p.Steps {
		if sym := symbolOf(s.Action); sym != "" {
			used[sym] = true
		}
	}
	return used
}
