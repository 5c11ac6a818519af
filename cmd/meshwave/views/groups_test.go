package views

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
)

// planLinesMax bounds the plan a wave of any size prints before apply
// starts: a screen, not a line per step.
const planLinesMax = 60

// lineWidthMax is the widest line the human plan may print.
const lineWidthMax = 100

// githubCommentMax is the most characters GitHub takes in a pull-request
// comment; the markdown plan of a big wave stays far below it.
const githubCommentMax = 65536

// The plan of one wave over 200 or 1,000 namespaces of 3 Deployments, the
// cluster benchmark's, fits a screen: the relabels, the restarts shown as
// groups with their counts and bounded lists of names, and a note that
// says where every step is.
func TestBigPlanIsBounded(t *testing.T) {
	for _, n := range []int{200, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := bigWave("bench", n)
			var b bytes.Buffer
			if err := Human(&b, p, HumanOptions{}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			t.Logf("%d steps shown in %d lines", len(p.Steps), len(lines))
			if len(lines) >= planLinesMax {
				t.Errorf("the plan has %d lines, want fewer than %d:\n%s", len(lines), planLinesMax, out)
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "Plan: ") {
					continue // the total, as it always was
				}
				if w := utf8.RuneCountInString(l); w > lineWidthMax {
					t.Errorf("a line is %d columns wide, want at most %d: %q", w, lineWidthMax, l)
				}
			}
			for _, want := range []string{
				fmt.Sprintf("  ~ %d Namespaces\n      - label istio-injection\n      + label istio.io/rev=%s\n      bench-000, bench-001,", n, byTo),
				fmt.Sprintf("  ↻ %d Deployments\n      %d pods, proxy 1.6.3-bzc → 1.7.0-bzc\n      in %d namespaces: bench-000, bench-001,", 3*n, 6*n, n),
				"every step: meshwave plan -json",
				fmt.Sprintf("Plan: 0 gateways to move, %d namespaces to relabel, %d workloads to restart", n, 3*n),
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the plan lacks %q:\n%s", want, out)
				}
			}
			if got := strings.Count(out, " more\n"); got != 2 {
				t.Errorf("%d lists of names end with how many more there are, want 2:\n%s", got, out)
			}
			if strings.Contains(out, "Namespace bench-") || strings.Contains(out, "Deployment bench-") {
				t.Errorf("the plan itemizes the steps of a big wave:\n%s", out)
			}

			b.Reset()
			if err := Markdown(&b, p); err != nil {
				t.Fatal(err)
			}
			md := b.String()
			mdLines := strings.Count(md, "\n")
			t.Logf("markdown: %d lines, %d characters", mdLines, len(md))
			if mdLines >= planLinesMax || len(md) > githubCommentMax/10 {
				t.Errorf("the markdown plan has %d lines and %d characters, want fewer than %d lines and %d characters:\n%s",
					mdLines, len(md), planLinesMax, githubCommentMax/10, md)
			}
		})
	}
}

// Steps of one kind are grouped only when a wave has more than itemizeUpTo
// of them, kind by kind: small plans (and every golden) are shown step by
// step.
func TestGroupingThreshold(t *testing.T) {
	tests := map[string]struct {
		namespaces                       int
		relabelsGrouped, restartsGrouped bool
	}{
		"4 relabels and 12 restarts: itemized":      {namespaces: 4},
		"5 relabels itemized, 15 restarts grouped":  {namespaces: 5, restartsGrouped: true},
		"12 relabels itemized, 36 restarts grouped": {namespaces: 12, restartsGrouped: true},
		"13 relabels and 39 restarts: both grouped": {namespaces: 13, relabelsGrouped: true, restartsGrouped: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Human(&b, bigWave("w", tc.namespaces), HumanOptions{}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if got := strings.Contains(out, fmt.Sprintf("~ %d Namespaces\n", tc.namespaces)); got != tc.relabelsGrouped {
				t.Errorf("relabels grouped: %v, want %v:\n%s", got, tc.relabelsGrouped, out)
			}
			if got := strings.Contains(out, "~ Namespace w-000\n"); got == tc.relabelsGrouped {
				t.Errorf("relabels itemized: %v, want %v:\n%s", got, !tc.relabelsGrouped, out)
			}
			if got := strings.Contains(out, fmt.Sprintf("↻ %d Deployments\n", 3*tc.namespaces)); got != tc.restartsGrouped {
				t.Errorf("restarts grouped: %v, want %v:\n%s", got, tc.restartsGrouped, out)
			}
			if got := strings.Contains(out, "every step: meshwave plan -json"); got != (tc.relabelsGrouped || tc.restartsGrouped) {
				t.Errorf("the note on grouping is there: %v, want %v:\n%s", got, tc.relabelsGrouped || tc.restartsGrouped, out)
			}
		})
	}
}

// Namespaces are grouped by the label change their relabel makes, restarts
// by workload kind and proxy move, no-ops by their reason; each group where
// its first step is.
func TestGroupsByChangeAndReason(t *testing.T) {
	p := bigWave("shop", 30)
	const onTarget = "namespace already labeled istio.io/rev=" + byTo
	const restarted = "every pod already runs " + byToImage
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Object == nil {
			continue // the wait and the verify
		}
		ns := s.Object.Name
		if s.Object.Namespace != "" {
			ns = s.Object.Namespace
		}
		var idx int
		fmt.Sscanf(ns, "shop-%d", &idx)
		switch {
		case idx >= 20 && s.Kind == plan.StepNamespaceRelabel:
			s.Action, s.Reason, s.SetLabels, s.RemoveLabels = plan.ActionNoop, onTarget, nil, nil
		case idx >= 20 && s.Kind == plan.StepWorkloadRestart:
			s.Action, s.Reason = plan.ActionNoop, restarted
		case idx >= 15 && s.Kind == plan.StepNamespaceRelabel:
			s.RemoveLabels = []string{"istio.io/rev"}
		case idx%5 == 0 && s.Kind == plan.StepWorkloadRestart && s.Object.Name == "app-c":
			s.Object.Kind = "StatefulSet"
		}
	}
	var b bytes.Buffer
	if err := Human(&b, p, HumanOptions{}); err != nil {
		t.Fatal(err)
	}
	var heads []string
	_, wave, _ := strings.Cut(b.String(), "Wave \"shop\"")
	for _, l := range strings.Split(wave, "\n") {
		if strings.HasPrefix(l, "  ~ ") || strings.HasPrefix(l, "  ↻ ") || strings.HasPrefix(l, "    ") && !strings.HasPrefix(l, "     ") {
			heads = append(heads, strings.TrimSpace(l))
		}
	}
	want := []string{
		"~ 15 Namespaces",
		"~ 5 Namespaces",
		"10 Namespaces (no change: " + onTarget + ")",
		"↻ 56 Deployments",
		"↻ 4 StatefulSets",
		"30 Deployments (no change: " + restarted + ")",
		"wait for rollouts (90 workloads, timeout 1h30m)",
		"verify 180 pods run 1.7.0-bzc",
	}
	if diff := cmp.Diff(want, heads); diff != "" {
		t.Errorf("group heads (-want +got):\n%s\n%s", diff, b.String())
	}
	for _, w := range []string{
		"  ~ 5 Namespaces\n      - label istio.io/rev\n      + label istio.io/rev=" + byTo + "\n      shop-015, shop-016, shop-017, shop-018, shop-019\n",
		"  ↻ 4 StatefulSets\n      8 pods, proxy 1.6.3-bzc → 1.7.0-bzc\n      in 4 namespaces: shop-000, shop-005, shop-010, shop-015\n",
		"(no change: " + onTarget + ")\n      shop-020, shop-021,",
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("the plan lacks %q:\n%s", w, b.String())
		}
	}
}

func TestBoundedNames(t *testing.T) {
	names := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("ns-%02d", i))
		}
		return out
	}
	tests := map[string]struct {
		head     string
		names    []string
		width    int
		maxLines int
		want     []string
	}{
		"all fit on one line": {names: names(3), width: 40, maxLines: 2,
			want: []string{"ns-00, ns-01, ns-02"}},
		"wrapped at the width": {names: names(5), width: 20, maxLines: 3,
			want: []string{"ns-00, ns-01, ns-02,", "ns-03, ns-04"}},
		"cut, the count on the last line": {names: names(20), width: 20, maxLines: 2,
			want: []string{"ns-00, ns-01, ns-02,", "ns-03, … and 16 more"}},
		"a head on the first line": {head: "in 9 namespaces: ", names: names(9), width: 30, maxLines: 2,
			want: []string{"in 9 namespaces: ns-00, ns-01,", "ns-02, ns-03, … and 5 more"}},
		"a name wider than a line": {names: []string{"a-very-long-namespace-name", "b"}, width: 10, maxLines: 3,
			want: []string{"a-very-long-namespace-name,", "b"}},
		"no room for any name": {names: names(4), width: 14, maxLines: 1,
			want: []string{"… and 4 more"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := boundedNames(tc.head, tc.names, tc.width, tc.maxLines, plainMarkup{})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("boundedNames (-want +got):\n%s", diff)
			}
		})
	}
}

// The shape of a grouped wave, for reviewers: 20 namespaces of 3
// Deployments, the cluster benchmark's smallest run.
func TestGoldenGrouped(t *testing.T) {
	p := bigWave("bench", 20)
	for _, format := range []string{"human", "md"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := renderers[format](&b, p); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "grouped-20."+format+".golden"), b.String())
		})
	}
}
