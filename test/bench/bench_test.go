package bench

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// The plan the benchmark applies is valid meshwave: one wave selecting the
// set, every restart at once, the wave's timeout the run's.
func TestPlanFileLoads(t *testing.T) {
	s := set{name: "n200-d3s-mw", n: 200, delay: 3 * time.Second}
	path := filepath.Join(t.TempDir(), "bench.mw.hcl")
	if err := os.WriteFile(path, []byte(planFile(s, 90*time.Minute)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, diags := config.Load([]string{path}, config.VarInput{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if u := cfg.Upgrade; u.From != sourceRevision || u.To != targetRevision || u.Flavor != plan.FlavorBackyards {
		t.Errorf("upgrade from %q to %q, flavor %q", u.From, u.To, u.Flavor)
	}
	if len(cfg.Waves) != 1 {
		t.Fatalf("%d waves, want 1", len(cfg.Waves))
	}
	w := cfg.Waves[0]
	if w.Selector != labelSet+"=n200-d3s-mw" || w.MaxParallel != 1000 || w.Timeout != 90*time.Minute {
		t.Errorf("wave: selector %q, max_parallel %d, timeout %s", w.Selector, w.MaxParallel, w.Timeout)
	}
}

func TestSetNamespaces(t *testing.T) {
	s := set{name: "n2-d0s-b", n: 2}
	nss := s.namespaces()
	if got := []string{nss[0].Name, nss[1].Name}; !cmp.Equal(got, s.namespaceNames()) {
		t.Errorf("names %v, namespaceNames %v", got, s.namespaceNames())
	}
	ns := nss[1]
	if ns.Labels["istio-injection"] != "enabled" || ns.Labels[labelSet] != "n2-d0s-b" {
		t.Errorf("labels %v", ns.Labels)
	}
	if len(ns.Workloads) != deploymentsPerNamespace {
		t.Fatalf("%d workloads", len(ns.Workloads))
	}
	wl := ns.Workloads[2]
	if wl.Name != "app-2" || wl.Replicas != replicas || wl.Labels[labelSet] != "n2-d0s-b" {
		t.Errorf("workload %+v", wl)
	}
	want := map[string]string{"testenv.meshwave.dev/start-delay": "0s", "testenv.meshwave.dev/start-delay-max": "0s"}
	if diff := cmp.Diff(want, wl.PodAnnotations); diff != "" {
		t.Errorf("pod annotations (-want +got):\n%s", diff)
	}
}

func TestCaseNames(t *testing.T) {
	tests := map[string]struct {
		c          Case
		id, regime string
	}{
		"at once":  {Case{N: 20}, "n20-d0s", "pods start at once"},
		"3 s":      {Case{N: 1000, StartDelay: 3 * time.Second}, "n1000-d3s", "pods start in 3 s"},
		"fraction": {Case{N: 5, StartDelay: 1500 * time.Millisecond}, "n5-d1-5s", "pods start in 1.5s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.c.ID(); got != tc.id {
				t.Errorf("ID = %q, want %q", got, tc.id)
			}
			if got := tc.c.Regime(); got != tc.regime {
				t.Errorf("Regime = %q, want %q", got, tc.regime)
			}
		})
	}
}

func TestParse(t *testing.T) {
	sizes, err := ParseSizes("20, 200,20,1000")
	if err != nil || !cmp.Equal(sizes, []int{20, 200, 1000}) {
		t.Errorf("ParseSizes = %v, %v", sizes, err)
	}
	for _, bad := range []string{"", "0", "x", "10000", "20,,200"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) accepted", bad)
		}
	}
	regimes, err := ParseRegimes("0s,3s")
	if err != nil || !cmp.Equal(regimes, []time.Duration{0, 3 * time.Second}) {
		t.Errorf("ParseRegimes = %v, %v", regimes, err)
	}
	for _, bad := range []string{"", "3", "-1s", "1h"} {
		if _, err := ParseRegimes(bad); err == nil {
			t.Errorf("ParseRegimes(%q) accepted", bad)
		}
	}
}

func TestReplaceSection(t *testing.T) {
	const head = "# Benchmarks\n\n## Compute\n\ntable\n"
	tests := map[string]struct {
		doc, want string
		err       bool
	}{
		"appended": {doc: head, want: head + "\n" + BeginMarker + "\nnew\n" + EndMarker + "\n"},
		"replaced, text after kept": {
			doc:  head + "\n" + BeginMarker + "\nold\nlines\n" + EndMarker + "\n\n## After\n",
			want: head + "\n" + BeginMarker + "\nnew\n" + EndMarker + "\n\n## After\n"},
		"end without begin": {doc: head + EndMarker + "\n", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReplaceSection(tc.doc, "new\n")
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !tc.err {
				again, _ := ReplaceSection(got, "new\n")
				if again != got {
					t.Errorf("a second replace changed the document:\n%s", again)
				}
			}
		})
	}
}

func sample() *Report {
	d := func(s float64) *time.Duration { v := time.Duration(s * float64(time.Second)); return &v }
	return &Report{
		Command: "make bench-cluster N=20,200", Started: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC),
		Ended: time.Date(2026, 3, 1, 2, 30, 0, 0, time.UTC), Sizes: []int{20, 200}, DefaultSizes: DefaultSizes,
		Regimes: DefaultRegimes, ManualMaxN: 20, HalfDone: true, Complete: true,
		Machine: Machine{CPUs: 2, CPUModel: "cpu", MemoryMiB: 24105, GoVersion: "go1.26.8", KubeVersion: "v1.37.2", MeshwaveVersion: "v0", Commit: "abc"},
		Results: []Result{
			{Case: Case{N: 20, StartDelay: 3 * time.Second},
				Plan:  &PlanResult{Binary: Process{Wall: 300 * time.Millisecond}, Requests: 20, ListPages: 18, RefTypes: 18, RefPages: 18, Relabels: 20, Restarts: 60},
				Apply: &Process{Wall: 10 * time.Second, MaxRSSKB: 100 * 1024, Lines: 120}, ResumeFinished: &Process{Wall: 250 * time.Millisecond},
				Half:     &HalfDone{Restarts: 60, KilledAfter: 30, DoneBefore: 52, Resume: Process{Wall: 6 * time.Second}},
				Baseline: d(9.5), Manual: d(131)},
			{Case: Case{N: 200},
				Plan:     &PlanResult{Binary: Process{Wall: 1200 * time.Millisecond}, Requests: 24, ListPages: 22, RefTypes: 18},
				Apply:    &Process{Wall: 60 * time.Second, MaxRSSKB: 200 * 1024, Lines: 500},
				Baseline: d(50),
				Half:     &HalfDone{RunAgain: []string{"wave/bench/restart/x/deployment/app-0 (step-start)"}},
				Errors:   []string{"B finished but: | pods"}},
		},
	}
}

// The generated section says the run measured a subset, shows every figure
// with its ratios, and judges the acceptance criteria it has figures for.
func TestMarkdown(t *testing.T) {
	md := sample().Markdown()
	for _, want := range []string{
		"`make bench-cluster N=20,200`",
		"This run measured N = 20, 200 only, a subset of the full benchmark's N = 20, 200, 1000.",
		"| 20 | pods start in 3 s | 10.0 s | 9.50 s | 1.05 | 131.0 s | 13.10 | 100 MiB | 120 | 0.30 s | 20 (18) | 0.25 s | 6.00 s, no step twice |",
		"| 200 | pods start at once | 60.0 s | 50.0 s | 1.20 | — | — |",
		"| apply ≤ 1.10 × B at N = 200, pods start at once | 1.20 | **not met** |",
		"| ≥ 10 × faster than A at N = 20, pods start in 3 s | A / meshwave = 13.1 | met |",
		"| plan < 1 s | 0.30 s at N = 20, 1.20 s at N = 200 | **not met** |",
		"| plan's request count does not grow with N (beyond the further pages of a LIST, 500 objects a page) | 20 at N = 20 (+0 further LIST pages), 20 at N = 200 (+4 further LIST pages) | met |",
		"| half-done resume runs no step twice, N = 200, pods start at once | 1 run again, 0 rolled twice | **not met** |",
		"| apply output at N = 200 without a terminal < 300 lines, pods start at once | 500 | **not met** |",
		"- **failed:** B finished but: \\| pods",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	if strings.Contains(md, "incomplete") {
		t.Errorf("a complete run is called incomplete:\n%s", md)
	}
	r := sample()
	r.Complete, r.Sizes = false, DefaultSizes
	md = r.Markdown()
	if !strings.Contains(md, "**This run is incomplete:**") || strings.Contains(md, "subset") {
		t.Errorf("an incomplete run of every size:\n%s", md)
	}
}

func TestListKey(t *testing.T) {
	q := url.Values{"limit": {"500"}, "continue": {"x"}, "labelSelector": {"istio.io/rev"}}
	if got := listKey("/api/v1/configmaps", q); got != "/api/v1/configmaps?labelSelector=istio.io%2Frev" {
		t.Errorf("listKey = %q", got)
	}
	if got := listKey("/api/v1/pods", url.Values{"limit": {"500"}}); got != "/api/v1/pods" {
		t.Errorf("listKey = %q", got)
	}
	if q.Get("limit") != "500" {
		t.Error("listKey changed its argument")
	}
}

func TestCountLinesAndField(t *testing.T) {
	if n := countLines([]byte("a\n\n  \nb\nc")); n != 3 {
		t.Errorf("countLines = %d, want 3", n)
	}
	if got := field(strings.NewReader("processor\t: 0\nmodel name\t: Some CPU @ 2GHz\n"), "model name"); got != "Some CPU @ 2GHz" {
		t.Errorf("field = %q", got)
	}
}

// B counts a rollout complete only once the controller has observed the
// generation its restart returned and every replica is new and available,
// whichever of the PATCH response and the watch event comes first.
func TestRolloutsComplete(t *testing.T) {
	dep := func(gen, observed int64, updated, available, total int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app-0", Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated,
				ReadyReplicas: available, AvailableReplicas: available, Replicas: total},
		}
	}
	newTracker := func() *rollouts {
		return &rollouts{latest: map[string]*appsv1.Deployment{}, want: map[string]int64{}, done: map[string]bool{}, total: 1}
	}

	t.Run("watch first, then the patch response", func(t *testing.T) {
		r := newTracker()
		r.observe(dep(1, 1, 2, 2, 2)) // before the restart: rolled out, but not the new generation
		r.observe(dep(2, 2, 2, 2, 2))
		if len(r.done) != 0 {
			t.Fatal("complete before the restart's generation was known")
		}
		r.want["ns/app-0"] = 2
		r.check("ns/app-0")
		if !r.done["ns/app-0"] {
			t.Error("not complete once the generation was known")
		}
	})
	t.Run("old pod still there", func(t *testing.T) {
		r := newTracker()
		r.want["ns/app-0"] = 2
		r.observe(dep(2, 2, 2, 2, 3))
		r.observe(dep(2, 1, 0, 2, 2))
		if len(r.done) != 0 {
			t.Fatalf("complete with an old pod or an unobserved generation: %v", r.pending())
		}
		r.observe(dep(2, 2, 2, 2, 2))
		if !r.done["ns/app-0"] {
			t.Error("not complete")
		}
	})
}

// TestRelabelBothWays: moving to the target sets istio.io/rev and drops the
// Backyards label the set was created with; moving back restores exactly
// the labels of a new set.
func TestRelabelBothWays(t *testing.T) {
	add, remove := relabel(targetRevision)
	if diff := cmp.Diff(map[string]string{"istio.io/rev": targetRevision}, add); diff != "" || !cmp.Equal(remove, []string{"istio-injection"}) {
		t.Errorf("to the target: add %v, remove %v", add, remove)
	}
	add, remove = relabel(sourceRevision)
	created := set{name: "x", n: 1}.namespaces()[0].Labels
	for k, v := range add {
		if created[k] != v {
			t.Errorf("back to the source sets %s=%s; a new set has %q", k, v, created[k])
		}
	}
	for _, k := range remove {
		if _, ok := created[k]; ok {
			t.Errorf("back to the source removes %s, which a new set has", k)
		}
	}
	if len(add) != 1 || len(remove) != 1 {
		t.Errorf("back to the source: add %v, remove %v", add, remove)
	}
}

func TestRolledTwice(t *testing.T) {
	before := map[string]int{"a/app-0": 2, "a/app-1": 3, "a/app-2": 1}
	after := map[string]int{"a/app-0": 3, "a/app-1": 5, "a/app-2": 1, "b/app-0": 2}
	want := []string{"a/app-1 (5 ReplicaSets, 3 before)", "b/app-0 (2 ReplicaSets, 0 before)"}
	if got := rolledTwice(before, after); !cmp.Equal(got, want) {
		t.Errorf("rolledTwice = %v, want %v", got, want)
	}
}

func TestMedians(t *testing.T) {
	s := time.Second
	if got := medianDuration([]time.Duration{3 * s, 1 * s, 2 * s}); got != 2*s {
		t.Errorf("median of 3, 1, 2 s = %s", got)
	}
	if got := medianDuration([]time.Duration{4 * s, 1 * s, 2 * s, 10 * s}); got != 3*s {
		t.Errorf("median of 4, 1, 2, 10 s = %s", got)
	}
	runs := []Process{{Wall: 90 * s, MaxRSSKB: 100, Lines: 50}, {Wall: 80 * s, MaxRSSKB: 130, Lines: 51}, {Wall: 99 * s, MaxRSSKB: 120, Lines: 49}}
	if got, want := medianProcess(runs), (Process{Wall: 90 * s, MaxRSSKB: 130, Lines: 51}); got != want {
		t.Errorf("medianProcess = %+v, want %+v", got, want)
	}
	if got, want := samples(runs, func(p Process) time.Duration { return p.Wall }), " (median of 3: 90.0 s, 80.0 s, 99.0 s)"; got != want {
		t.Errorf("samples = %q, want %q", got, want)
	}
	if got := samples(runs[:1], func(p Process) time.Duration { return p.Wall }); got != "" {
		t.Errorf("samples of one = %q, want nothing", got)
	}
}
