package views

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// The names that must not break a table: a pipe ends a cell, < starts an
// HTML tag, a backtick a code span.
// A value with a backtick is written as escaped text, one without as a
// code span.
const (
	oddNamespace = "a|b<i>c`d"
	oddPod       = "pipe|<b>x"
	oddLabel     = "v|1<s>`2`"
)

// upgrade1000 is an upstream Istio 1-26 → 1-27 upgrade of 1,000 namespaces
// computed by plan.Compute from a cluster in plain types: a canary wave of
// 10 namespaces, then the other 990 by selector. Every namespace has three
// Deployments; every fourth also a bare pod (a warning and a manual
// follow-up each), every tenth a Deployment opted out of injection, every
// 50th an OnDelete StatefulSet (manual follow-up). The first namespace and
// one bare pod have names that markdown would take for markup, and one of
// the canary's relabels sets a label value like it.
func upgrade1000(t *testing.T) *plan.Plan {
	t.Helper()
	const (
		n       = 1000
		canary  = 10
		from    = "1-26"
		to      = "1-27"
		tierKey = "mesh.example.com/tier"
	)
	cfg := &config.Config{
		Upgrade: config.Upgrade{From: from, To: to, Flavor: config.FlavorIstio},
		Waves: []config.WaveConfig{
			{Name: "canary", MaxParallel: 2, Timeout: 15 * time.Minute,
				Gates: []config.Gate{{Kind: config.GatePause, Pause: 10 * time.Minute}}},
			{Name: "tiers", Selector: tierKey + " in (frontend, backend)", MaxParallel: 20, Timeout: time.Hour,
				Gates: []config.Gate{{Kind: config.GateApproval}}},
		},
		Rollback: config.RollbackConfig{Automatic: true},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
	injector := func(rev string) plan.Webhook {
		return plan.Webhook{Kind: "MutatingWebhookConfiguration", Name: "istio-sidecar-injector-" + rev, Revision: rev,
			Injectors: []plan.InjectorSelectors{{Name: "rev.namespace.sidecar-injector.istio.io",
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: plan.LabelRevision, Operator: metav1.LabelSelectorOpIn, Values: []string{rev}},
					{Key: plan.LabelInjection, Operator: metav1.LabelSelectorOpDoesNotExist}}},
				ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: plan.LabelInjectPod, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}}}},
			}}}
	}
	controlPlane := func(rev, version, image string) plan.ControlPlane {
		return plan.ControlPlane{Revision: rev, Kind: "Deployment", Name: "istiod-" + rev, Namespace: config.IstioNamespace,
			Version: version, ProxyImage: image, Istiod: []plan.Pod{{Name: "istiod-" + rev + "-0", Ready: true}}}
	}
	snap := &plan.Snapshot{
		ServerVersion: "v1.37.2",
		Namespaces:    []plan.Namespace{{Name: config.IstioNamespace}},
		ControlPlanes: []plan.ControlPlane{controlPlane(from, "1.26.4", isFromImage), controlPlane(to, "1.27.1", isToImage)},
		Webhooks:      []plan.Webhook{injector(from), injector(to)},
	}
	on := func(name string) plan.Pod {
		return plan.Pod{Name: name, ProxyImage: isFromImage, Revision: from, Ready: true}
	}
	for i := range n {
		ns := fmt.Sprintf("ns-%04d", i)
		if i == 0 {
			ns = oddNamespace
		}
		labels := map[string]string{plan.LabelRevision: from}
		if i < canary {
			cfg.Waves[0].Namespaces = append(cfg.Waves[0].Namespaces, ns)
		} else {
			labels[tierKey] = []string{"frontend", "backend"}[i%2]
		}
		snap.Namespaces = append(snap.Namespaces, plan.Namespace{Name: ns, Labels: labels})
		for _, app := range []string{"web", "api", "worker"} {
			snap.Workloads = append(snap.Workloads, plan.Workload{Kind: plan.KindDeployment, Namespace: ns, Name: app,
				Pods: []plan.Pod{on(app + "-0"), on(app + "-1")}})
		}
		if i%4 == 0 {
			name := "debug-shell"
			if i == 4 {
				name = oddPod
			}
			snap.Workloads = append(snap.Workloads, plan.Workload{Kind: plan.KindBarePod, Namespace: ns, Name: name,
				Pods: []plan.Pod{on(name)}})
		}
		if i%10 == 0 {
			snap.Workloads = append(snap.Workloads, plan.Workload{Kind: plan.KindDeployment, Namespace: ns, Name: "batch-export",
				TemplateLabels: map[string]string{plan.LabelInjectPod: "false"}, Pods: []plan.Pod{{Name: "batch-export-0", Ready: true}}})
		}
		if i%50 == 0 {
			snap.Workloads = append(snap.Workloads, plan.Workload{Kind: plan.KindStatefulSet, Namespace: ns, Name: "cache",
				UpdateStrategy: "OnDelete", Pods: []plan.Pod{on("cache-0"), on("cache-1")}})
		}
	}
	p := plan.Compute(cfg, snap)
	for i, s := range p.Steps {
		if s.Kind == plan.StepNamespaceRelabel && s.Object.Name == "ns-0001" {
			p.Steps[i].SetLabels = map[string]string{plan.LabelRevision: to, "team": oddLabel}
		}
	}
	return p
}

// The markdown plan of a 1,000-namespace upgrade fits one pull-request
// comment, and renders with a CommonMark renderer (goldmark, with GitHub's
// table extension) to the expected structure: its tables, one collapsed
// <details> per phase, cells whose values look like markup shown as they
// are. The structure is a golden file.
func TestMarkdown1000NamespacesRendersAsExpected(t *testing.T) {
	p := upgrade1000(t)
	var b bytes.Buffer
	if err := Markdown(&b, p); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	t.Logf("markdown: %d characters for %d steps, %d checks, %d manual follow-ups", len(md), len(p.Steps), len(p.Checks), len(p.ManualFollowUp))
	if len(md) > markdownBudget || utf8.RuneCountInString(md) >= githubCommentMax {
		t.Fatalf("the markdown plan is %d characters, want at most %d (GitHub takes %d in a comment)", len(md), markdownBudget, githubCommentMax)
	}
	if !strings.Contains(md, "> [!NOTE]") || !strings.Contains(md, "`meshwave show -format=markdown PLANFILE`") {
		t.Errorf("the summarized plan does not say where the full plan is:\n%s", md)
	}

	doc := renderHTML(t, md)
	golden(t, filepath.Join("testdata", "upgrade-1000.md.html-outline.golden"), outline(doc))

	tables := findAll(doc, atom.Table)
	// Checks, waves, manual follow-up, and one per phase.
	if want := 3 + len(p.Phases); len(tables) != want {
		t.Errorf("%d tables, want %d", len(tables), want)
	}
	details := findAll(doc, atom.Details)
	if len(details) != len(p.Phases) {
		t.Errorf("%d <details>, want one per phase: %d", len(details), len(p.Phases))
	}
	for _, d := range details {
		if hasAttr(d, "open") {
			t.Errorf("a wave is expanded: %s", text(d))
		}
		if s := firstElement(d); s == nil || s.DataAtom != atom.Summary {
			t.Errorf("a <details> does not start with its <summary>: %s", text(d))
		}
		if len(findAll(d, atom.Table)) != 1 {
			t.Errorf("a <details> holds %d tables, want 1: %s", len(findAll(d, atom.Table)), text(d))
		}
	}
	for _, tb := range tables {
		head := findAll(tb, atom.Th)
		for _, row := range findAll(tb, atom.Tr)[1:] {
			if cells := findAll(row, atom.Td); len(cells) != len(head) {
				t.Errorf("a row has %d cells, its table %d: %s", len(cells), len(head), text(row))
			}
		}
		// Only the markup the view writes: a name never becomes a tag.
		for _, td := range findAll(tb, atom.Td) {
			forEach(td, func(n *html.Node) {
				switch n.DataAtom {
				case atom.Td, atom.Code, atom.Br, atom.Em, atom.Strong:
				default:
					if n.Type == html.ElementNode {
						t.Errorf("a cell holds a <%s> element: %q", n.Data, text(td))
					}
				}
			})
		}
	}
	for _, want := range []string{
		"Pod " + oddNamespace + "/debug-shell",
		"Pod ns-0004/" + oddPod,
		"Namespace " + oddNamespace,
		"+ label team=" + oddLabel,
	} {
		if !cellWith(tables, want) {
			t.Errorf("no table cell shows %q as it is", want)
		}
	}
}

// Whatever the plan, the markdown stays within the budget, says so when
// it is summarized, renders to well-formed tables and collapsed sections,
// and is the same for the same plan.
func TestMarkdownBudget(t *testing.T) {
	manyWaves := func(waves, namespaces int) *plan.Plan {
		p := &plan.Plan{FormatVersion: plan.FormatVersion, From: byFrom, To: byTo, Flavor: plan.FlavorBackyards}
		for i := range waves {
			addBigWave(p, fmt.Sprintf("w%03d", i), namespaces)
		}
		return p
	}
	tests := map[string]struct {
		plan *plan.Plan
		// what the note says, or nothing when the plan is whole
		note     string
		sections int // the <details> shown
	}{
		"1,000 namespaces in one wave: whole": {plan: bigWave("bench", 1000), sections: 1},
		"1,000 namespaces, 271 checks and 270 follow-ups: tables cut": {plan: upgrade1000(t),
			note: "so long tables show their first 20 rows. ", sections: 3},
		"100 waves of 13 namespaces: steps counted": {plan: manyWaves(100, 13),
			note: "so long tables show their first 20 rows and each wave counts its steps by kind. ", sections: 100},
		"200 waves of 13 namespaces: the last left out": {plan: manyWaves(200, 13),
			note: "and each wave counts its steps by kind; the last ", sections: -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b, again bytes.Buffer
			if err := Markdown(&b, tc.plan); err != nil {
				t.Fatal(err)
			}
			if err := Markdown(&again, tc.plan); err != nil {
				t.Fatal(err)
			}
			md := b.String()
			if md != again.String() {
				t.Errorf("two renderings of one plan differ")
			}
			t.Logf("%d characters", len(md))
			if len(md) > markdownBudget {
				t.Errorf("%d characters, want at most %d", len(md), markdownBudget)
			}
			if got := strings.Contains(md, "> [!NOTE]"); got != (tc.note != "") {
				t.Errorf("summarized: %v, want %v", got, tc.note != "")
			}
			if tc.note != "" && !strings.Contains(md, tc.note) {
				t.Errorf("the note lacks %q:\n%s", tc.note, md[:min(len(md), 2000)])
			}
			doc := renderHTML(t, md)
			details := findAll(doc, atom.Details)
			switch {
			case tc.sections >= 0 && len(details) != tc.sections:
				t.Errorf("%d sections shown, want %d", len(details), tc.sections)
			case tc.sections < 0:
				omitted := len(tc.plan.Phases) - len(details)
				if omitted <= 0 || !strings.Contains(md, fmt.Sprintf("the last %d sections are left out", omitted)) {
					t.Errorf("%d of %d sections shown, and the note does not count the %d left out", len(details), len(tc.plan.Phases), omitted)
				}
			}
			for _, d := range details {
				if hasAttr(d, "open") || len(findAll(d, atom.Summary)) != 1 || len(findAll(d, atom.Table)) != 1 {
					t.Errorf("a section is not a collapsed <details> with a summary and a table: %s", text(d))
				}
			}
		})
	}
}

// renderHTML renders md as GitHub would, near enough: CommonMark with the
// GFM extensions, raw HTML (the <details> blocks) passed through, and
// parses the result.
func renderHTML(t *testing.T, md string) *html.Node {
	t.Helper()
	gm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	var out bytes.Buffer
	if err := gm.Convert([]byte(md), &out); err != nil {
		t.Fatalf("goldmark: %v", err)
	}
	doc, err := html.Parse(&out)
	if err != nil {
		t.Fatalf("parse the HTML: %v", err)
	}
	return doc
}

func forEach(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		forEach(c, f)
	}
}

func findAll(n *html.Node, a atom.Atom) []*html.Node {
	var out []*html.Node
	forEach(n, func(c *html.Node) {
		if c.Type == html.ElementNode && c.DataAtom == a {
			out = append(out, c)
		}
	})
	return out
}

func firstElement(n *html.Node) *html.Node {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			return c
		}
	}
	return nil
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// text is n's text as a reader sees it, <br> as a space.
func text(n *html.Node) string {
	var b strings.Builder
	forEach(n, func(c *html.Node) {
		switch {
		case c.Type == html.TextNode:
			b.WriteString(c.Data)
		case c.DataAtom == atom.Br:
			b.WriteString(" ")
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

// cellWith reports whether a cell of tables contains want as its text.
func cellWith(tables []*html.Node, want string) bool {
	for _, tb := range tables {
		for _, td := range findAll(tb, atom.Td) {
			if strings.Contains(text(td), want) {
				return true
			}
		}
	}
	return false
}

// outline is the rendered document's block structure, one block a line,
// nested blocks indented: headings, paragraphs and quotes with their text,
// tables as their header and then one line of cells per row (cells split
// by " ┃ "), <details> by their summary.
func outline(doc *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node, depth int)
	walk = func(n *html.Node, depth int) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			indent := strings.Repeat("  ", depth)
			switch c.DataAtom {
			case atom.Html, atom.Body:
				walk(c, depth)
			case atom.Head:
			case atom.H3, atom.H4, atom.P, atom.Blockquote:
				fmt.Fprintf(&b, "%s%s: %s\n", indent, c.Data, text(c))
			case atom.Details:
				summary := ""
				if s := findAll(c, atom.Summary); len(s) > 0 {
					summary = text(s[0])
				}
				fmt.Fprintf(&b, "%sdetails (open=%v): %s\n", indent, hasAttr(c, "open"), summary)
				walk(c, depth+1)
			case atom.Summary:
			case atom.Table:
				for i, row := range findAll(c, atom.Tr) {
					var cells []string
					for _, cell := range append(findAll(row, atom.Th), findAll(row, atom.Td)...) {
						cells = append(cells, text(cell))
					}
					kind := "row"
					if i == 0 {
						kind = "table"
					}
					fmt.Fprintf(&b, "%s%s: %s\n", indent, kind, strings.Join(cells, " ┃ "))
				}
			default:
				fmt.Fprintf(&b, "%s%s: %s\n", indent, c.Data, text(c))
			}
		}
	}
	walk(doc, 0)
	return b.String()
}
