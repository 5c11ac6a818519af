package views

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshwave/meshwave/plan"
)

// A section's steps of one kind get a line each only while they are few
// (itemizeUpTo, the apply log's rule too). Above it, a wave of 1,000
// namespaces would print thousands of lines before anything happens, so the
// plan shows them grouped: the namespaces whose relabel makes the same label
// change once with that change, the restarts of one workload kind and proxy
// move once with their counts, the no-ops once per reason, each followed by
// a bounded list of names. What a group leaves out is in the JSON plan.

// groupNamesWidth is the widest a line of a group's names gets: with the
// 6 columns the human view indents it by, 88, a terminal-like width, so a
// log without a terminal wraps nothing. Markdown leaves the wrapping to the
// browser but names as many.
const groupNamesWidth = 88 - 6

// groupNameLines is how many lines a group's names take at most; the rest
// are counted ("… and 170 more").
const groupNameLines = 3

// groupedKinds are the step kinds a wave has one of per namespace or per
// workload, the only ones that can be many.
var groupedKinds = map[plan.StepKind]bool{
	plan.StepNamespaceRelabel: true,
	plan.StepWorkloadRestart:  true,
}

// everyStepNote says, once, that steps are grouped and where the steps a
// group hides are listed.
var everyStepNote = []string{
	"Steps of one kind are grouped where a wave has more than " + strconv.Itoa(itemizeUpTo) + " of them;",
	"every step: meshwave plan -json, or meshwave show -json PLANFILE for a saved plan.",
}

// sectionItem is a step shown on its own or a group of alike steps, in the
// order of the section's steps (a group where its first step is).
type sectionItem struct {
	step  plan.Step
	group *stepGroup
}

// stepGroup is steps of one kind that show the same change (or the same
// no-op reason) on the same kind of object.
type stepGroup struct {
	kind  plan.StepKind
	noop  bool
	steps []plan.Step
}

// sectionItems are sec's steps as the text views show them: itemized, or,
// for a kind the section has more than itemizeUpTo steps of, grouped.
func sectionItems(sec section) []sectionItem {
	perKind := map[plan.StepKind]int{}
	for _, s := range sec.steps {
		perKind[s.Kind]++
	}
	var items []sectionItem
	groups := map[string]*stepGroup{}
	for _, s := range sec.steps {
		if !groupedKinds[s.Kind] || perKind[s.Kind] <= itemizeUpTo {
			items = append(items, sectionItem{step: s})
			continue
		}
		key := groupKey(s)
		g, ok := groups[key]
		if !ok {
			g = &stepGroup{kind: s.Kind, noop: s.Action == plan.ActionNoop}
			groups[key] = g
			items = append(items, sectionItem{group: g})
		}
		g.steps = append(g.steps, s)
	}
	return items
}

// grouped reports whether any section of p shows grouped steps.
func grouped(secs []section) bool {
	for _, sec := range secs {
		for _, it := range sectionItems(sec) {
			if it.group != nil {
				return true
			}
		}
	}
	return false
}

// groupKey is what steps must share to be shown as one: their kind, the
// kind of object they touch, and what the text views say they change (or
// why they change nothing).
func groupKey(s plan.Step) string {
	objKind := ""
	if s.Object != nil {
		objKind = s.Object.Kind
	}
	k := []string{string(s.Kind), objKind, string(s.Action)}
	switch {
	case s.Action == plan.ActionNoop:
		k = append(k, s.Reason)
	case s.Kind == plan.StepWorkloadRestart:
		// The pods are counted, not compared.
		k = append(k, proxyVersion(s.FromImage), proxyVersion(s.ToImage))
	default:
		k = append(k, describe(s, plainMarkup{}).details...)
	}
	return strings.Join(k, "\x00")
}

// groupText is a group as both text views show it: like a step, with a
// count for the object's name, and the names it stands for.
type groupText struct {
	stepText
	// namesHead introduces the names: "in 200 namespaces: " for workloads,
	// nothing for namespaces.
	namesHead string
	names     []string
}

func describeGroup(g *stepGroup, m markup) groupText {
	first := g.steps[0]
	t := groupText{stepText: describe(first, m)}
	objKind := "step"
	if first.Object != nil && first.Object.Kind != "" {
		objKind = first.Object.Kind
	}
	t.head = m.text(count(len(g.steps), objKind, plural(objKind)))
	if first.Kind == plan.StepNamespaceRelabel {
		for _, s := range g.steps {
			t.names = append(t.names, objectName(s))
		}
	} else {
		pods := 0
		seen := map[string]bool{}
		for _, s := range g.steps {
			pods += s.Pods
			ns := objectName(s)
			if s.Object != nil && s.Object.Namespace != "" {
				ns = s.Object.Namespace
			}
			if !seen[ns] {
				seen[ns] = true
				t.names = append(t.names, ns)
			}
		}
		t.namesHead = "in " + count(len(t.names), "namespace", "namespaces") + ": "
		if first.Kind == plan.StepWorkloadRestart && !g.noop {
			sum := first
			sum.Pods = pods
			t.details = []string{podsMove(sum, m)}
		}
	}
	if g.noop {
		reason := "no change"
		if first.Reason != "" {
			reason += ": " + first.Reason
		}
		t.head += m.text(" (" + reason + ")")
	}
	return t
}

// plural is the plural of a Kubernetes kind as a person writes it.
func plural(kind string) string {
	if strings.HasSuffix(kind, "s") {
		return kind + "es"
	}
	return kind + "s"
}

// objectName is the name of the object a step touches, or its id.
func objectName(s plan.Step) string {
	if s.Object == nil {
		return s.ID
	}
	return s.Object.Name
}

// boundedNames writes head and names, separated by commas, in lines of at
// most width columns, and at most maxLines of them: as many names as fit,
// then "… and N more" for the others.
func boundedNames(head string, names []string, width, maxLines int, m markup) []string {
	// How many names fit without the count, then fewer until the count
	// fits too.
	fit := 0
	for k := 1; k <= len(names); k++ {
		if len(wrapNames(head, names[:k], 0, width)) > maxLines {
			break
		}
		fit = k
	}
	for ; fit < len(names) && fit > 0; fit-- {
		if len(wrapNames(head, names[:fit], len(names)-fit, width)) <= maxLines {
			break
		}
	}
	lines := wrapNames(head, names[:fit], len(names)-fit, width)
	out := make([]string, len(lines))
	for i, l := range lines {
		var b strings.Builder
		if i == 0 {
			b.WriteString(m.text(head))
		}
		for j, tok := range l {
			if j > 0 {
				b.WriteString(" ")
			}
			switch {
			case tok.more > 0:
				b.WriteString(m.text("… and " + strconv.Itoa(tok.more) + " more"))
			case tok.comma:
				b.WriteString(m.code(tok.name) + m.text(","))
			default:
				b.WriteString(m.code(tok.name))
			}
		}
		out[i] = b.String()
	}
	return out
}

// nameToken is one word of a list of names: a name, followed by a comma
// unless it ends the list, or the count of the names left out.
type nameToken struct {
	name  string
	comma bool
	more  int
}

func (t nameToken) width() int {
	if t.more > 0 {
		return utf8.RuneCountInString("… and " + strconv.Itoa(t.more) + " more")
	}
	w := utf8.RuneCountInString(t.name)
	if t.comma {
		w++
	}
	return w
}

// wrapNames breaks head, names and the count of more names into lines of
// at most width columns (a name wider than a line gets one of its own).
func wrapNames(head string, names []string, more, width int) [][]nameToken {
	toks := make([]nameToken, 0, len(names)+1)
	for i, n := range names {
		toks = append(toks, nameToken{name: n, comma: i < len(names)-1 || more > 0})
	}
	if more > 0 {
		toks = append(toks, nameToken{more: more})
	}
	var lines [][]nameToken
	var cur []nameToken
	col := utf8.RuneCountInString(head)
	for _, t := range toks {
		w := t.width()
		if len(cur) > 0 && col+1+w > width {
			lines = append(lines, cur)
			cur, col = nil, 0
		}
		if len(cur) > 0 {
			col++
		}
		cur = append(cur, t)
		col += w
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}
