package generate

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// generated is a plan Generate wrote, loaded back as `meshwave validate`
// loads it, and computed on the cluster it was written from.
type generated struct {
	src  string
	cfg  *config.Config
	plan *plan.Plan
}

// generate writes the plan of o for snap and holds it to what every
// generated plan promises: it is formatted as `meshwave fmt` formats it, it
// loads without a diagnostic, and its plan on the same cluster has no
// error.
func generate(t *testing.T, snap *plan.Snapshot, o Options) generated {
	t.Helper()
	out, err := Generate(snap, o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if formatted := hclwrite.Format(out); !bytes.Equal(formatted, out) {
		t.Errorf("the plan is not as meshwave fmt formats it (-got +formatted):\n%s", cmp.Diff(string(out), string(formatted)))
	}
	file := filepath.Join(t.TempDir(), "upgrade"+config.FileSuffix)
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, diags := config.Load([]string{file}, config.VarInput{Environ: []string{}})
	if len(diags) > 0 {
		t.Fatalf("the plan loads with diagnostics: %v\n%s", diags, out)
	}
	p := plan.Compute(cfg, snap)
	for _, ch := range p.Checks {
		if ch.Severity == plan.SeverityError {
			t.Errorf("plan check %s %s: %s\n%s", ch.Code, ch.Severity, ch.Message, out)
		}
	}
	return generated{src: string(out), cfg: cfg, plan: p}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plan/generate -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; refresh with -update):\n%s", path, diff)
	}
}

// waves are a plan's waves as name -> namespaces, in order.
func waves(cfg *config.Config) [][]string {
	var out [][]string
	for _, w := range cfg.Waves {
		out = append(out, append([]string{w.Name}, w.Namespaces...))
	}
	return out
}

func TestGenerateScenarios(t *testing.T) {
	tests := map[string]struct {
		snap     *plan.Snapshot
		from, to string
	}{
		"istio":     {snap: istioScenario().snapshot(), from: "1-26", to: "1-27"},
		"backyards": {snap: backyardsScenario().snapshot(), from: "mesh.istio-system", to: "cp-v17x.istio-system"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := generate(t, tt.snap, Options{From: tt.from, To: tt.to})
			golden(t, name, g.src)
			// The plan moves everything off the source and uninstalls it.
			if !g.cfg.Finalize.UninstallOld {
				t.Errorf("finalize uninstall_old = false, want true:\n%s", g.src)
			}
			if len(g.plan.ManualFollowUp) > 0 {
				t.Errorf("manual follow-up: %+v", g.plan.ManualFollowUp)
			}
		})
	}
}

func TestGeneratePlacesEveryUserOfTheSource(t *testing.T) {
	g := generate(t, istioScenario().snapshot(), Options{From: "1-26", To: "1-27"})
	if got, want := g.cfg.Upgrade, (config.Upgrade{From: "1-26", To: "1-27", Flavor: config.FlavorIstio}); got.From != want.From || got.To != want.To || got.Flavor != want.Flavor {
		t.Errorf("upgrade = %+v, want %+v", got, want)
	}
	var tags []string
	for _, tg := range g.cfg.Tags {
		tags = append(tags, tg.Name)
	}
	if diff := cmp.Diff([]string{"prod"}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	var gws []string
	for _, gw := range g.cfg.Gateways {
		gws = append(gws, gw.Namespace+"/"+gw.Name)
	}
	if diff := cmp.Diff([]string{"istio-ingress/istio-ingressgateway"}, gws); diff != "" {
		t.Errorf("gateways (-want +got):\n%s", diff)
	}
	// billing and edge have one workload each: billing is first by name.
	want := [][]string{{"canary", "billing"}, {"wave-1", "edge", "shop-backend", "shop-frontend"}}
	if diff := cmp.Diff(want, waves(g.cfg)); diff != "" {
		t.Errorf("waves (-want +got):\n%s", diff)
	}
	if gates := g.cfg.Waves[0].Gates; len(gates) != 1 || gates[0].Kind != config.GateApproval {
		t.Errorf("canary gates = %+v, want one approval", gates)
	}
}

func TestGenerateWaves(t *testing.T) {
	tests := map[string]struct {
		o    Options
		want [][]string
	}{
		"wave size": {o: Options{WaveSize: 2},
			want: [][]string{{"canary", "billing"}, {"wave-1", "edge", "shop-backend"}, {"wave-2", "shop-frontend"}}},
		"wave size one": {o: Options{WaveSize: 1},
			want: [][]string{{"canary", "billing"}, {"wave-1", "edge"}, {"wave-2", "shop-backend"}, {"wave-3", "shop-frontend"}}},
		"canary": {o: Options{Canary: "shop-frontend"},
			want: [][]string{{"canary", "shop-frontend"}, {"wave-1", "billing", "edge", "shop-backend"}}},
		"by label": {o: Options{ByLabel: "tier"},
			want: [][]string{{"canary", "billing"}, {"backend", "shop-backend"}, {"frontend", "edge", "shop-frontend"}}},
		"by label with a canary": {o: Options{ByLabel: "tier", Canary: "edge"},
			want: [][]string{{"canary", "edge"}, {"backend", "billing", "shop-backend"}, {"frontend", "shop-frontend"}}},
		"by a label some lack": {o: Options{ByLabel: "team"},
			want: [][]string{{"canary", "billing"}, {"payments-eu", "shop-backend"}, {"unlabeled", "edge", "shop-frontend"}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := istioScenario()
			c.s.Namespaces[1].Labels["team"] = "Payments.EU" // shop-backend; a value that is no wave name
			tt.o.From, tt.o.To = "1-26", "1-27"
			g := generate(t, c.snapshot(), tt.o)
			if diff := cmp.Diff(tt.want, waves(g.cfg)); diff != "" {
				t.Errorf("waves (-want +got):\n%s\n%s", diff, g.src)
			}
		})
	}
}

func TestGenerateComments(t *testing.T) {
	tests := map[string]struct {
		change func(*cluster)
		// want are lines of the plan; uninstall is finalize's uninstall_old.
		want      []string
		uninstall bool
	}{
		"a workload a restart cannot roll": {
			change: func(c *cluster) {
				c.workload(plan.Workload{Kind: plan.KindStatefulSet, Namespace: "billing", Name: "ledger", UpdateStrategy: plan.UpdateOnDelete,
					Pods: []plan.Pod{{Name: "ledger-0", ProxyImage: img26, Revision: "1-26", Ready: true}}})
			},
			want: []string{
				"# Not moved by a restart: StatefulSet billing/ledger (StatefulSet uses the OnDelete update strategy): delete its pods one at a time after the wave, waiting for each to be Ready again, so they are re-created and re-injected. Or set roll_on_delete = true in this wave.",
				`wave "wave-1" {`,
			},
			uninstall: true,
		},
		"a namespace with two injection labels": {
			change: func(c *cluster) {
				c.namespace("both", plan.LabelInjection, "enabled", plan.LabelRevision, "1-26").apps("both", img26, "1-26", "api")
				// The default injector is 1-26's, so istio-injection=enabled selects it.
				c.s.ControlPlanes[0].Tags = append(c.s.ControlPlanes[0].Tags, config.DefaultRevision)
				c.s.ControlPlanes[0].Default = true
				c.s.Webhooks = append(c.s.Webhooks, istioInjector(plan.TagWebhookName("default"), "1-26", "default", "default", true))
			},
			want: []string{
				"# Not placed in the plan (move these yourself):",
				"#   namespace both: labeled both istio-injection=enabled and istio.io/rev=1-26; which injector serves it depends on the webhooks' selectors. Keep one label, then generate again.",
				`tag "default" {}`,
				"  uninstall_old = false",
			},
		},
		"a workload pinned by its pod template": {
			change: func(c *cluster) {
				c.namespace("legacy").workload(plan.Workload{Kind: plan.KindDeployment, Namespace: "legacy", Name: "old",
					TemplateLabels: map[string]string{plan.LabelRevision: "1-26"},
					Pods:           []plan.Pod{{Name: "old-1", ProxyImage: img26, Revision: "1-26", Ready: true}}})
			},
			want: []string{
				"#   Deployment legacy/old: its pod template's label istio.io/rev=1-26 pins it to 1-26. Label the template istio.io/rev=1-27 (or remove the label and move its namespace), then generate again.",
				"# 1-26 stays installed: what the plan does not place (above) still uses it.",
				"  uninstall_old = false",
			},
		},
		"pods on the source in a namespace that does not select it": {
			change: func(c *cluster) {
				c.namespace("moved", plan.LabelRevision, "1-27").apps("moved", img26, "1-26", "late")
			},
			want: []string{
				"#   namespace moved: pods late-1 run 1-26's proxy, but the namespace's labels do not select 1-26. Restart their workloads, then generate again.",
				"  uninstall_old = false",
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := istioScenario()
			tt.change(c)
			out, err := Generate(c.snapshot(), Options{From: "1-26", To: "1-27"})
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(out), "\n")
			for _, w := range tt.want {
				if !containsLine(lines, w) {
					t.Errorf("the plan lacks the line\n%s\n%s", w, out)
				}
			}
			g := generate(t, c.snapshot(), Options{From: "1-26", To: "1-27"})
			if g.cfg.Finalize.UninstallOld != tt.uninstall {
				t.Errorf("uninstall_old = %v, want %v", g.cfg.Finalize.UninstallOld, tt.uninstall)
			}
		})
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestGenerateIsDeterministic(t *testing.T) {
	c := istioScenario()
	first, err := Generate(c.snapshot(), Options{From: "1-26", To: "1-27"})
	if err != nil {
		t.Fatal(err)
	}
	// The same cluster listed in another order writes the same plan.
	s := c.snapshot()
	for i, j := 0, len(s.Namespaces)-1; i < j; i, j = i+1, j-1 {
		s.Namespaces[i], s.Namespaces[j] = s.Namespaces[j], s.Namespaces[i]
	}
	for i, j := 0, len(s.Workloads)-1; i < j; i, j = i+1, j-1 {
		s.Workloads[i], s.Workloads[j] = s.Workloads[j], s.Workloads[i]
	}
	again, err := Generate(s, Options{From: "1-26", To: "1-27"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(first), string(again)); diff != "" {
		t.Errorf("the plan depends on the order of the snapshot (-first +again):\n%s", diff)
	}
}

func TestGenerateRefuses(t *testing.T) {
	tests := map[string]struct {
		o    Options
		want string
	}{
		"same revision":     {o: Options{From: "1-26", To: "1-26"}, want: "nothing to upgrade"},
		"to default":        {o: Options{From: "1-26", To: "default"}, want: "--to must name a revision"},
		"missing source":    {o: Options{From: "1-25", To: "1-27"}, want: `no control plane of revision "1-25" in the cluster (it has 1-26, 1-27)`},
		"missing target":    {o: Options{From: "1-26", To: "1-28"}, want: "istioctl install --set revision=1-28"},
		"mixed flavors":     {o: Options{From: "1-26", To: "cp.istio-system"}, want: "are not revisions of one flavor"},
		"wrong flavor":      {o: Options{From: "1-26", To: "1-27", Flavor: config.FlavorBackyards}, want: "is not a revision of flavor backyards"},
		"unknown canary":    {o: Options{From: "1-26", To: "1-27", Canary: "istio-ingress"}, want: "--canary istio-ingress: the namespace is not one the plan can move from 1-26"},
		"negative size":     {o: Options{From: "1-26", To: "1-27", WaveSize: -1}, want: "must be positive"},
		"bad label key":     {o: Options{From: "1-26", To: "1-27", ByLabel: "a b"}, want: "is not a label key"},
		"a tag names to it": {o: Options{From: "prod", To: "1-26"}, want: "the same control plane"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Generate(istioScenario().snapshot(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFlavorOf(t *testing.T) {
	tests := map[string]struct {
		from, to string
		want     config.Flavor
	}{
		"upstream":               {"1-26", "1-27", config.FlavorIstio},
		"upstream from default":  {"default", "canary", config.FlavorIstio},
		"backyards":              {"mesh.istio-system", "cp-v17x.istio-system", config.FlavorBackyards},
		"backyards from default": {"default", "cp-v17x.istio-system", config.FlavorBackyards},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := FlavorOf(tt.from, tt.to)
			if err != nil || got != tt.want {
				t.Errorf("FlavorOf(%q, %q) = %q, %v; want %q", tt.from, tt.to, got, err, tt.want)
			}
		})
	}
}

func TestGenerateFromATag(t *testing.T) {
	// --from prod names 1-26 through its tag: the plan names the revision,
	// and moves the tag.
	g := generate(t, istioScenario().snapshot(), Options{From: "prod", To: "1-27"})
	if g.cfg.Upgrade.From != "1-26" || len(g.cfg.Tags) != 1 || g.cfg.Tags[0].Name != "prod" {
		t.Errorf("upgrade from %q, tags %+v; want from 1-26 and the tag prod", g.cfg.Upgrade.From, g.cfg.Tags)
	}
}

func TestGenerateWithNothingToMove(t *testing.T) {
	c := (&cluster{}).revision("1-26", "1.26.3", img26).revision("1-27", "1.27.1", img27).namespace("other")
	out, err := Generate(c.snapshot(), Options{From: "1-26", To: "1-27"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "# No namespace uses 1-26: the plan has no wave.") {
		t.Errorf("no comment about the missing waves:\n%s", out)
	}
	if _, err := Generate(c.snapshot(), Options{From: "1-26", To: "1-27", Canary: "other"}); err == nil {
		t.Error("a canary without namespaces to move: no error")
	}
}

func TestWaveName(t *testing.T) {
	for value, want := range map[string]string{
		"frontend": "frontend", "Payments.EU": "payments-eu", "--a__b--": "a-b", "": "value", "_": "value",
		strings.Repeat("x", 63): strings.Repeat("x", 50),
	} {
		if got := waveName(value); got != want {
			t.Errorf("waveName(%q) = %q, want %q", value, got, want)
		}
	}
}

func TestGenerateManyNamespaces(t *testing.T) {
	c := (&cluster{}).revision("1-26", "1.26.3", img26).revision("1-27", "1.27.1", img27)
	for i := range 25 {
		ns := fmt.Sprintf("team-%02d", i)
		c.namespace(ns, plan.LabelRevision, "1-26").apps(ns, img26, "1-26", "api")
	}
	c.apps("team-07", img26, "1-26", "worker") // not the smallest any more
	g := generate(t, c.snapshot(), Options{From: "1-26", To: "1-27"})
	var sizes []int
	for _, w := range g.cfg.Waves {
		sizes = append(sizes, len(w.Namespaces))
	}
	if diff := cmp.Diff([]int{1, 10, 10, 4}, sizes); diff != "" {
		t.Errorf("wave sizes (-want +got):\n%s", diff)
	}
	if g.cfg.Waves[0].Namespaces[0] != "team-00" {
		t.Errorf("canary = %v, want team-00", g.cfg.Waves[0].Namespaces)
	}
	if !strings.Contains(g.src, "  namespaces = [\n    \"team-01\",\n") {
		t.Errorf("a long list is not one namespace a line:\n%s", g.src)
	}
}

func TestWritten(t *testing.T) {
	out, err := Generate(istioScenario().snapshot(), Options{From: "1-26", To: "1-27"})
	if err != nil {
		t.Fatal(err)
	}
	if !Written(out) {
		t.Errorf("Written(a generated plan) = false:\n%s", out)
	}
	if Written([]byte("upgrade {\n}\n# Written by meshwave generate from the cluster as it was:\n")) {
		t.Error("Written(a hand-written plan) = true")
	}
}

// docs/plan-language.md shows the plan of the upstream scenario as
// Generate writes it.
func TestDocsShowTheGeneratedPlan(t *testing.T) {
	doc, err := os.ReadFile("../../docs/plan-language.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "istio.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```hcl\n"+string(want)+"```") {
		t.Errorf("docs/plan-language.md does not show testdata/istio.golden under meshwave generate")
	}
}

func TestGenerateFromDefault(t *testing.T) {
	// 1-26 is the default injector through its default tag; demo follows it.
	c := (&cluster{}).revision("1-26", "1.26.3", img26, config.DefaultRevision).revision("1-27", "1.27.1", img27).
		namespace("demo", plan.LabelInjection, "enabled").apps("demo", img26, "1-26", "web")
	g := generate(t, c.snapshot(), Options{From: "default", To: "1-27"})
	has := func(line string) {
		if !containsLine(strings.Split(g.src, "\n"), line) {
			t.Errorf("the plan lacks the line %q:\n%s", line, g.src)
		}
	}
	has(`  from   = "default"`)
	has(`tag "default" {}`)
	has(`# The revision tags on 1-26 move to 1-27 first: the namespaces that follow them`)
	has(`  namespaces = ["demo"]`)
}

func TestGenerateCanaryIsNoTerminatingNamespace(t *testing.T) {
	c := istioScenario()
	c.s.Namespaces[2].Terminating = true // billing
	g := generate(t, c.snapshot(), Options{From: "1-26", To: "1-27"})
	want := [][]string{{"canary", "edge"}, {"wave-1", "billing", "shop-backend", "shop-frontend"}}
	if diff := cmp.Diff(want, waves(g.cfg)); diff != "" {
		t.Errorf("waves (-want +got):\n%s", diff)
	}
}
