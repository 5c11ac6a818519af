package plan

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
)

const (
	img16 = "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
)

// backyardsConfig is the guide's plan: the ingress gateway, demo-a as the
// canary wave with a pause gate, demo-b after, then the uninstall.
func backyardsConfig() *config.Config {
	return &config.Config{
		Upgrade:  Upgrade{From: "mesh.istio-system", To: "cp-v17x.istio-system", Flavor: FlavorBackyards},
		Gateways: []config.GatewayConfig{{Name: "istio-ingressgateway", Namespace: "istio-system"}},
		Waves: []config.WaveConfig{
			{Name: "canary", Namespaces: []string{"demo-a"}, MaxParallel: 1, Timeout: 10 * time.Minute,
				Gates: []Gate{{Kind: config.GatePause, Pause: time.Minute}}},
			{Name: "rest", Namespaces: []string{"demo-b"}, MaxParallel: 2, Timeout: 10 * time.Minute},
		},
		Rollback: config.RollbackConfig{Automatic: true},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
}

// backyardsSnapshot is the guide's starting point.
func backyardsSnapshot() *Snapshot {
	yes := true
	return cluster().
		withBackyards("1.4.1").
		withNamespace("istio-system").
		withNamespace("backyards-system", LabelRevision, "cp-v17x.istio-system").
		withNamespace("demo-a", LabelInjection, "enabled").
		withNamespace("demo-b", LabelInjection, "enabled").
		withDeployment("demo-a", "app-a", podOn("app-a-1", img16, "mesh.istio-system")).
		withDeployment("demo-b", "app-b", podOn("app-b-1", img16, "mesh.istio-system")).
		withDeployment("backyards-system", "backyards", podOn("backyards-1", img17, "cp-v17x.istio-system")).
		withDeployment("istio-system", "istiod", Pod{Name: "istiod-1", Ready: true}).
		withWorkload(Workload{Kind: KindDeployment, Namespace: "istio-system", Name: "istio-ingressgateway", TemplateLabels: optedOut,
			Pods: []Pod{podOn("gw-1", img16, "mesh.istio-system")}}).
		withBackyardsInjector("mesh.istio-system", true).
		withBackyardsInjector("cp-v17x.istio-system", false).
		withControlPlane(ControlPlane{Revision: "mesh.istio-system", Name: "mesh", Namespace: "istio-system", Version: "1.6.3", ProxyImage: img16, Default: true,
			Istiod: []Pod{{Name: "istiod-1", Ready: true}}}).
		withControlPlane(ControlPlane{Revision: "cp-v17x.istio-system", Name: "cp-v17x", Namespace: "istio-system", Version: "1.7.0", ProxyImage: img17,
			Istiod: []Pod{{Name: "istiod-cp-v17x-1", Ready: true}}}).
		withGateway(MeshGateway{Name: "istio-ingressgateway", Namespace: "istio-system", ControlPlane: "mesh.istio-system", RunAsRoot: &yes,
			Ports: []GatewayPort{{Name: "http2", Port: 80, TargetPort: 8080}}, Pods: []Pod{podOn("gw-1", img16, "mesh.istio-system")}}).
		build()
}

type stepLine struct {
	ID     string
	Action Action
}

func stepLines(p *Plan) []stepLine {
	var out []stepLine
	for _, s := range p.Steps {
		out = append(out, stepLine{s.ID, s.Action})
	}
	return out
}

func TestComputeBackyardsScenario(t *testing.T) {
	p := Compute(backyardsConfig(), backyardsSnapshot())
	want := []stepLine{
		{"gateway/istio-system/istio-ingressgateway", ActionUpdate},
		{"wave/canary/relabel/demo-a", ActionUpdate},
		{"wave/canary/restart/demo-a/deployment/app-a", ActionRestart},
		{"wave/canary/wait", ActionRead},
		{"wave/canary/verify", ActionRead},
		{"wave/canary/gate/0-pause", ActionRead},
		{"wave/rest/relabel/demo-b", ActionUpdate},
		{"wave/rest/restart/demo-b/deployment/app-b", ActionRestart},
		{"wave/rest/wait", ActionRead},
		{"wave/rest/verify", ActionRead},
		{"finalize/uninstall/mesh.istio-system", ActionDelete},
	}
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("steps mismatch (-want +got):\n%s", diff)
	}
	if len(p.Checks) != 0 {
		t.Errorf("checks = %+v, want none", p.Checks)
	}
	relabel := p.Steps[1]
	if diff := cmp.Diff(map[string]string{LabelRevision: "cp-v17x.istio-system"}, relabel.SetLabels); diff != "" {
		t.Errorf("relabel set labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{LabelInjection}, relabel.RemoveLabels); diff != "" {
		t.Errorf("relabel removed labels (-want +got):\n%s", diff)
	}
	wantSummary := Summary{Changes: 6, Relabel: 2, Restart: 2, Gateways: 1, Uninstall: 1, Waves: []WaveSummary{
		{Name: "canary", Namespaces: 1, Workloads: 1, Pods: 1, FromImage: img16, ToImage: img17},
		{Name: "rest", Namespaces: 1, Workloads: 1, Pods: 1, FromImage: img16, ToImage: img17},
	}}
	if diff := cmp.Diff(wantSummary, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// After a finished apply the plan must say "no changes" and raise no error,
// although the source control plane is gone.
func TestComputeAfterUpgradeHasNoChanges(t *testing.T) {
	snap := backyardsSnapshot()
	for i := range snap.Namespaces {
		if snap.Namespaces[i].Name == "demo-a" || snap.Namespaces[i].Name == "demo-b" {
			snap.Namespaces[i].Labels = map[string]string{LabelRevision: "cp-v17x.istio-system"}
		}
	}
	for i := range snap.Workloads {
		for j := range snap.Workloads[i].Pods {
			if snap.Workloads[i].Pods[j].ProxyImage != "" {
				snap.Workloads[i].Pods[j].ProxyImage = img17
				snap.Workloads[i].Pods[j].Revision = "cp-v17x.istio-system"
			}
		}
	}
	snap.Workloads = append(snap.Workloads[:3], snap.Workloads[4]) // old istiod gone
	snap.ControlPlanes = snap.ControlPlanes[1:]
	snap.Gateways[0].ControlPlane = "cp-v17x.istio-system"
	snap.Gateways[0].Pods[0] = Pod{Name: "gw-2", ProxyImage: img17, Revision: "cp-v17x.istio-system", Ready: true}
	p := Compute(backyardsConfig(), snap)
	if p.HasChanges() {
		t.Errorf("HasChanges() = true, steps %+v", stepLines(p))
	}
	last := p.Steps[len(p.Steps)-1]
	if want := (stepLine{"finalize/uninstall/mesh.istio-system", ActionNoop}); stepLines(p)[len(p.Steps)-1] != want {
		t.Errorf("last step = %+v, want %+v", last, want)
	}

	// Deleted, but its istiod still shutting down: the uninstall is not
	// done yet, under the same step id.
	snap.Workloads = append(snap.Workloads, Workload{Kind: KindDeployment, Namespace: "istio-system", Name: "istiod",
		TemplateLabels: optedOut, Pods: []Pod{{Name: "istiod-1", Revision: "mesh.istio-system"}}})
	p = Compute(backyardsConfig(), snap)
	got := stepLines(p)[len(p.Steps)-1]
	if want := (stepLine{"finalize/uninstall/mesh.istio-system", ActionDelete}); got != want {
		t.Errorf("last step with the old istiod left = %+v, want %+v", got, want)
	}
	if len(p.Checks) != 0 {
		t.Errorf("checks = %+v, want none", p.Checks)
	}
}

func TestComputeChecks(t *testing.T) {
	no := false
	tests := map[string]struct {
		mutate   func(*config.Config, *Snapshot)
		code     string
		severity Severity
		object   string // kind/namespace/name, "" when the check names none
	}{
		"target missing": {func(_ *config.Config, s *Snapshot) { s.ControlPlanes = s.ControlPlanes[:1] },
			CodeTargetMissing, SeverityError, ""},
		"target not ready": {func(_ *config.Config, s *Snapshot) { s.ControlPlanes[1].Istiod[0].Ready = false },
			CodeTargetNotReady, SeverityError, "Deployment/istio-system/istiod-cp-v17x"},
		"source missing": {func(c *config.Config, _ *Snapshot) {
			c.Upgrade.From = "old.istio-system"
			c.Finalize.UninstallOld = false
		},
			CodeSourceMissing, SeverityError, ""},
		"backyards too old for 1.7": {func(_ *config.Config, s *Snapshot) { s.BackyardsVersion = "1.3.2" },
			CodeBackyardsVersion, SeverityError, "Istio/istio-system/cp-v17x"},
		"old lua envoyfilter": {func(_ *config.Config, s *Snapshot) {
			s.EnvoyFilters = []EnvoyFilter{{Namespace: "demo-a", Name: "lua", UsesLua: true, OldLuaSyntax: true}}
		}, CodeEnvoyFilterLua, SeverityError, "EnvoyFilter/demo-a/lua"},
		"non-root gateway low port": {func(_ *config.Config, s *Snapshot) {
			s.Gateways[0].RunAsRoot = &no
			s.Gateways[0].Ports = []GatewayPort{{Name: "http", Port: 80}}
		}, CodeGatewayPrivilegedPort, SeverityError, "MeshGateway/istio-system/istio-ingressgateway"},
		"headless service on 1.7.0": {func(_ *config.Config, s *Snapshot) {
			s.HeadlessServices = []ObjectRef{{Kind: "Service", Namespace: "demo-b", Name: "db"}}
		}, CodeHeadlessService, SeverityWarning, "Service/demo-b/db"},
		"namespace not labeled": {func(_ *config.Config, s *Snapshot) { s.Namespaces[2].Labels = nil },
			CodeNamespaceNotInjected, SeverityError, "Namespace//demo-a"},
		"both labels": {func(_ *config.Config, s *Snapshot) { s.Namespaces[3].Labels[LabelRevision] = "cp-v17x.istio-system" },
			CodeConflictingLabels, SeverityWarning, "Namespace//demo-b"},
		"pod on unexpected proxy": {func(_ *config.Config, s *Snapshot) { s.Workloads[0].Pods[0].ProxyImage = "istio/proxyv2:1.5.0" },
			CodeProxyUnexpected, SeverityWarning, "Pod/demo-a/app-a-1"},
		"bare pod": {func(_ *config.Config, s *Snapshot) {
			s.Workloads = append(s.Workloads, Workload{Kind: KindBarePod, Namespace: "demo-a", Name: "debug",
				Pods: []Pod{{Name: "debug", ProxyImage: img16, Revision: "mesh.istio-system"}}})
		}, CodeNotRollable, SeverityWarning, "Pod/demo-a/debug"},
		"forbidden": {func(_ *config.Config, s *Snapshot) {
			s.Permissions = []Permission{{Verb: "patch", Resource: "namespaces", Allowed: false}}
		}, CodeForbidden, SeverityError, ""},
		"namespace missing": {func(c *config.Config, _ *Snapshot) { c.Waves[1].Namespaces = append(c.Waves[1].Namespaces, "demo-z") },
			CodeNamespaceMissing, SeverityError, "Namespace//demo-z"},
		"gateway missing": {func(c *config.Config, _ *Snapshot) { c.Gateways[0].Name = "nope" },
			CodeGatewayMissing, SeverityError, "MeshGateway/istio-system/nope"},
		"old control plane still used": {func(c *config.Config, _ *Snapshot) { c.Waves = c.Waves[:1] },
			CodeOldStillUsed, SeverityError, "Istio/istio-system/mesh"},
		"wave selects nothing": {func(c *config.Config, _ *Snapshot) {
			c.Waves = append(c.Waves, config.WaveConfig{Name: "empty", Selector: "tier=none"})
		}, CodeWaveEmpty, SeverityWarning, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, snap := backyardsConfig(), backyardsSnapshot()
			tc.mutate(cfg, snap)
			p := Compute(cfg, snap)
			var got *Check
			for i := range p.Checks {
				if p.Checks[i].Code == tc.code {
					got = &p.Checks[i]
				}
			}
			if got == nil {
				t.Fatalf("no check %s; got %+v", tc.code, p.Checks)
			}
			if got.Severity != tc.severity {
				t.Errorf("severity = %s, want %s", got.Severity, tc.severity)
			}
			obj := ""
			if got.Object != nil {
				obj = got.Object.Kind + "/" + got.Object.Namespace + "/" + got.Object.Name
			}
			if obj != tc.object {
				t.Errorf("object = %q, want %q", obj, tc.object)
			}
			if got.Hint == "" || got.Message == "" {
				t.Errorf("check lacks message or hint: %+v", got)
			}
			if (tc.severity == SeverityError) != p.Blocked() {
				t.Errorf("Blocked() = %t with a %s check", p.Blocked(), tc.severity)
			}
		})
	}
}

func TestComputeSelectorWaveIstioFlavor(t *testing.T) {
	cfg := &config.Config{
		Upgrade: Upgrade{From: "1-26", To: "1-27", Flavor: FlavorIstio},
		Waves:   []config.WaveConfig{{Name: "frontend", Selector: "tier=frontend", Exclude: []string{"shop-b"}, MaxParallel: 2, Timeout: time.Minute}},
	}
	snap := cluster().
		withNamespace("shop-a", LabelRevision, "prod", "tier", "frontend").
		withNamespace("shop-b", LabelRevision, "1-26", "tier", "frontend").
		withNamespace("shop-c", LabelRevision, "1-26", "tier", "frontend").
		withNamespace("backend", LabelRevision, "1-26").
		withRevision("1-26", "1.26.2", "istio/proxyv2:1.26.2", tagged("prod")).
		withRevision("1-27", "1.27.0", "istio/proxyv2:1.27.0").
		build()
	p := Compute(cfg, snap)
	want := []stepLine{
		{"wave/frontend/relabel/shop-a", ActionUpdate},
		{"wave/frontend/relabel/shop-c", ActionUpdate},
		{"wave/frontend/wait", ActionNoop},
		{"wave/frontend/verify", ActionRead},
	}
	// shop-a uses the "prod" tag of the source revision, so it is on the
	// source and moves like shop-c; shop-b is excluded.
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if len(p.Checks) != 0 {
		t.Errorf("checks = %+v, want none", p.Checks)
	}
}

// A namespace labeled with a revision tag follows the tag: while the tag
// points at the source, uninstalling the source is refused; once it points
// at the target, the namespace needs no relabel, only restarts.
func TestComputeRevisionTags(t *testing.T) {
	cfg := &config.Config{
		Upgrade:  Upgrade{From: "1-26", To: "1-27", Flavor: FlavorIstio},
		Waves:    []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
	snap := func(tagOn int) *Snapshot {
		tags := [2]func(*ControlPlane){tagged(), tagged()}
		tags[tagOn] = tagged("prod")
		return cluster().
			withNamespace("shop", LabelRevision, "prod").
			withDeployment("shop", "web", podOn("web-1", "istio/proxyv2:1.26.3", "1-26")).
			withRevision("1-26", "1.26.3", "istio/proxyv2:1.26.3", tags[0]).
			withRevision("1-27", "1.27.1", "istio/proxyv2:1.27.1", tags[1]).
			build()
	}

	p := Compute(cfg, snap(0))
	var codes []string
	for _, c := range p.Checks {
		codes = append(codes, c.Code)
	}
	if diff := cmp.Diff([]string{CodeOldStillUsed}, codes); diff != "" {
		t.Errorf("tag on the source: checks (-want +got):\n%s", diff)
	}

	p = Compute(cfg, snap(1))
	want := []stepLine{
		{"wave/all/relabel/shop", ActionNoop},
		{"wave/all/restart/shop/deployment/web", ActionRestart},
		{"wave/all/wait", ActionRead},
		{"wave/all/verify", ActionRead},
		{"finalize/uninstall/1-26", ActionDelete},
	}
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("tag on the target: steps (-want +got):\n%s", diff)
	}
	if len(p.Checks) != 0 {
		t.Errorf("tag on the target: checks = %+v, want none", p.Checks)
	}
}

// A plan may name the target by a revision tag; pods injected through it
// carry the revision, so verify expects the revision.
func TestComputeTargetByTagVerifiesTheRevision(t *testing.T) {
	cfg := &config.Config{
		Upgrade: Upgrade{From: "1-26", To: "canary", Flavor: FlavorIstio},
		Waves:   []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
	}
	snap := cluster().
		withNamespace("shop", LabelRevision, "1-26").
		withDeployment("shop", "web", podOn("web-1", "istio/proxyv2:1.26.3", "1-26")).
		withRevision("1-26", "1.26.3", "istio/proxyv2:1.26.3").
		withRevision("1-27", "1.27.1", "istio/proxyv2:1.27.1", tagged("canary")).
		build()
	p := Compute(cfg, snap)
	for _, s := range p.Steps {
		switch s.Kind {
		case StepNamespaceRelabel:
			if s.SetLabels[LabelRevision] != "canary" {
				t.Errorf("relabel sets istio.io/rev=%q, want the tag canary", s.SetLabels[LabelRevision])
			}
		case StepWaveVerify:
			if s.ToRevision != "1-27" {
				t.Errorf("verify expects revision %q, want 1-27", s.ToRevision)
			}
		}
	}
}

// The upstream upgrade with tag blocks: the tags move first, the namespaces
// that follow them (istio.io/rev=prod-stable, istio-injection=enabled through
// the default tag) need no relabel, only restarts; the uninstall deletes the
// revision's objects but not those of the moved tags; a validator left on
// the old revision is named.
func TestComputeTagMoves(t *testing.T) {
	const img30, img31 = "docker.io/istio/proxyv2:1.30.0", "docker.io/istio/proxyv2:1.31.0"
	cfg := &config.Config{
		Upgrade:  Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio},
		Tags:     []config.TagConfig{{Name: "prod-stable"}, {Name: config.DefaultRevision}},
		Waves:    []config.WaveConfig{{Name: "all", Namespaces: []string{"shop", "tagged", "legacy"}, MaxParallel: 2, Timeout: time.Minute}},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
	obj := func(kind, ns, name, tag string) InstalledObject {
		return InstalledObject{ObjectRef: ObjectRef{Kind: kind, Namespace: ns, Name: name}, Tag: tag}
	}
	hook := func(kind, name, revision, tag string) Webhook {
		return Webhook{Kind: kind, Name: name, Revision: revision, Tag: tag, Endpoints: []string{"url:https://127.0.0.1:15017"}}
	}
	injector := func(name, revision, tag, value string, isDefault bool) Webhook {
		w := istioInjector(name, revision, tag, value, isDefault)
		w.Endpoints = []string{"url:https://127.0.0.1:15017"}
		return w
	}
	snap := cluster().
		withNamespace("shop", LabelRevision, "1-30").
		withNamespace("tagged", LabelRevision, "prod-stable").
		withNamespace("legacy", LabelInjection, "enabled").
		withDeployment("shop", "web", podOn("web-1", img30, "1-30")).
		withDeployment("tagged", "web", podOn("web-1", img30, "1-30")).
		withDeployment("legacy", "web", podOn("web-1", img30, "1-30")).
		withControlPlane(ControlPlane{Revision: "1-30", Kind: "Deployment", Name: "istiod-1-30", Namespace: "istio-system", Version: "1.30.0", ProxyImage: img30,
			Istiod: []Pod{{Name: "istiod-1-30-a", Ready: true}}, Tags: []string{config.DefaultRevision, "prod-stable"}, Default: true,
			Endpoints: []string{"url:https://127.0.0.1:15017"},
			Objects: []InstalledObject{
				obj("MutatingWebhookConfiguration", "", "istio-revision-tag-default", config.DefaultRevision),
				obj("MutatingWebhookConfiguration", "", "istio-revision-tag-prod-stable", "prod-stable"),
				obj("MutatingWebhookConfiguration", "", "istio-sidecar-injector-1-30", ""),
				obj("ValidatingWebhookConfiguration", "", "istiod-default-validator", config.DefaultRevision),
				obj("Deployment", "istio-system", "istiod-1-30", ""),
			}}).
		withControlPlane(ControlPlane{Revision: "1-31", Kind: "Deployment", Name: "istiod-1-31", Namespace: "istio-system", Version: "1.31.0", ProxyImage: img31,
			Istiod: []Pod{{Name: "istiod-1-31-a", Ready: true}}, Endpoints: []string{"url:https://127.0.0.1:15018"}}).
		withWebhook(injector("istio-revision-tag-default", "1-30", config.DefaultRevision, config.DefaultRevision, true)).
		withWebhook(injector("istio-revision-tag-prod-stable", "1-30", "prod-stable", "prod-stable", false)).
		withWebhook(injector("istio-sidecar-injector-1-30", "1-30", "", "1-30", false)).
		withWebhook(istioInjector("istio-sidecar-injector-1-31", "1-31", "", "1-31", false)).
		withWebhook(hook("ValidatingWebhookConfiguration", "istiod-default-validator", "1-30", config.DefaultRevision)).
		// Written by hand, not part of any installation, calling 1-30.
		withWebhook(hook("ValidatingWebhookConfiguration", "team-validator", "", "")).
		build()
	p := Compute(cfg, snap)
	want := []stepLine{
		{"tag/prod-stable", ActionUpdate},
		{"tag/default", ActionUpdate},
		{"wave/all/relabel/legacy", ActionNoop},
		{"wave/all/relabel/shop", ActionUpdate},
		{"wave/all/relabel/tagged", ActionNoop},
		{"wave/all/restart/legacy/deployment/web", ActionRestart},
		{"wave/all/restart/shop/deployment/web", ActionRestart},
		{"wave/all/restart/tagged/deployment/web", ActionRestart},
		{"wave/all/wait", ActionRead},
		{"wave/all/verify", ActionRead},
		{"finalize/uninstall/1-30", ActionDelete},
	}
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	un := p.Steps[len(p.Steps)-1]
	wantObjects := []ObjectRef{
		{Kind: "MutatingWebhookConfiguration", Name: "istio-sidecar-injector-1-30"},
		{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-1-30"},
	}
	if diff := cmp.Diff(wantObjects, un.Objects); diff != "" {
		t.Errorf("uninstall objects (-want +got):\n%s", diff)
	}
	var got []string
	for _, c := range p.Checks {
		got = append(got, c.Code+" "+c.Object.Kind+"/"+c.Object.Name)
	}
	if diff := cmp.Diff([]string{CodeWebhookDangling + " ValidatingWebhookConfiguration/team-validator"}, got); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}

	// Without the tag blocks the wave relabels its namespaces to 1-31, but
	// the tags themselves keep 1-30 in use.
	cfg.Tags = nil
	p = Compute(cfg, snap)
	var msgs []string
	for _, c := range p.Checks {
		if c.Code == CodeOldStillUsed {
			msgs = append(msgs, c.Message)
		}
	}
	wantMsg := "the old control plane would still be used after the plan by: " +
		"revision tag default (the injector of istio-injection=enabled namespaces), revision tag prod-stable"
	if diff := cmp.Diff([]string{wantMsg}, msgs); diff != "" {
		t.Errorf("MW015 without tag blocks (-want +got):\n%s", diff)
	}

	// A tag the cluster does not have.
	cfg.Tags = []config.TagConfig{{Name: "nope"}}
	p = Compute(cfg, snap)
	found := false
	for _, c := range p.Checks {
		found = found || (c.Code == CodeTagMissing && c.Object.Name == "istio-revision-tag-nope")
	}
	if !found {
		t.Errorf("no MW017 for a missing tag; checks %+v", p.Checks)
	}
}

// A revision Helm installed is uninstalled by meshwave only with a warning
// that names the release to remove instead.
func TestComputeHelmInstalledSource(t *testing.T) {
	cfg := &config.Config{Upgrade: Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio}, Finalize: config.FinalizeConfig{UninstallOld: true}}
	snap := cluster().
		withControlPlane(ControlPlane{Revision: "1-30", Kind: "Deployment", Name: "istiod-1-30", Namespace: "istio-system", ProxyImage: "p:1.30.0",
			HelmRelease: "istio-system/istiod-1-30", Istiod: []Pod{{Name: "i", Ready: true}}}).
		withControlPlane(ControlPlane{Revision: "1-31", Kind: "Deployment", Name: "istiod-1-31", Namespace: "istio-system", ProxyImage: "p:1.31.0",
			Istiod: []Pod{{Name: "j", Ready: true}}}).
		build()
	p := Compute(cfg, snap)
	if len(p.Checks) != 1 || p.Checks[0].Code != CodeHelmInstalled || p.Checks[0].Severity != SeverityWarning ||
		p.Checks[0].Hint != "uninstall the release instead (helm uninstall istiod-1-30 -n istio-system) and set finalize { uninstall_old = false }, or remove Helm's record afterwards" {
		t.Errorf("checks = %+v, want one MW019 warning naming the release", p.Checks)
	}
}

// A wave holding workloads a restart cannot roll restarts, waits for and
// verifies only the others, and lists those as manual follow-up with what
// to do; a workload of that kind already on the target is not listed.
func TestComputeManualFollowUp(t *testing.T) {
	onSource := func(name string) []Pod {
		return []Pod{{Name: name, ProxyImage: img16, Revision: "mesh.istio-system", Ready: true}}
	}
	snap := backyardsSnapshot()
	snap.Workloads = append(snap.Workloads,
		Workload{Kind: KindStatefulSet, Namespace: "demo-a", Name: "db", UpdateStrategy: UpdateOnDelete, Pods: append(onSource("db-0"), onSource("db-1")...)},
		Workload{Kind: KindJob, Namespace: "demo-a", Name: "migrate", Pods: onSource("migrate-x")},
		Workload{Kind: KindDeployment, Namespace: "demo-a", Name: "frozen", Paused: true, Pods: onSource("frozen-1")},
		Workload{Kind: KindStatefulSet, Namespace: "demo-a", Name: "cache", Pods: onSource("cache-0")},
		Workload{Kind: KindJob, Namespace: "demo-a", Name: "done", Pods: []Pod{{Name: "done-x", ProxyImage: img17, Revision: "cp-v17x.istio-system"}}},
		Workload{Kind: KindRollout, Namespace: "demo-a", Name: "checkout", Pods: onSource("checkout-1")},
		Workload{Kind: KindRollout, Namespace: "demo-a", Name: "held", Paused: true, Pods: onSource("held-1")},
		Workload{Kind: KindRollout, Namespace: "demo-a", Name: "byref", TemplateRef: "Deployment byref", Pods: onSource("byref-1")},
		Workload{Kind: "Revision", Group: "serving.knative.dev", Namespace: "demo-a", Name: "hello-00001", Pods: onSource("hello-00001-x")},
	)
	p := Compute(backyardsConfig(), snap)

	want := []stepLine{
		{"gateway/istio-system/istio-ingressgateway", ActionUpdate},
		{"wave/canary/relabel/demo-a", ActionUpdate},
		{"wave/canary/restart/demo-a/deployment/app-a", ActionRestart},
		{"wave/canary/restart/demo-a/statefulset/cache", ActionRestart},
		{"wave/canary/restart/demo-a/rollout/checkout", ActionRestart},
		{"wave/canary/wait", ActionRead},
		{"wave/canary/verify", ActionRead},
		{"wave/canary/gate/0-pause", ActionRead},
		{"wave/rest/relabel/demo-b", ActionUpdate},
		{"wave/rest/restart/demo-b/deployment/app-b", ActionRestart},
		{"wave/rest/wait", ActionRead},
		{"wave/rest/verify", ActionRead},
		{"finalize/uninstall/mesh.istio-system", ActionDelete},
	}
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	rollable := []ObjectRef{{Kind: "Deployment", Namespace: "demo-a", Name: "app-a"}, {Kind: "StatefulSet", Namespace: "demo-a", Name: "cache"},
		{Kind: "Rollout", Namespace: "demo-a", Name: "checkout"}}
	for _, s := range p.Steps {
		if s.Wave != "canary" || (s.Kind != StepWaveWait && s.Kind != StepWaveVerify) {
			continue
		}
		if diff := cmp.Diff(rollable, s.Workloads); diff != "" {
			t.Errorf("%s covers (-want +got):\n%s", s.ID, diff)
		}
		if s.Kind == StepWaveVerify && s.Pods != 3 {
			t.Errorf("verify counts %d pods, want 3", s.Pods)
		}
	}

	reason := func(f RolloutFacts) [2]string { r, m := NotRollable(f); return [2]string{r, m} }
	sts, job, dep := reason(RolloutFacts{Kind: KindStatefulSet, UpdateStrategy: UpdateOnDelete}),
		reason(RolloutFacts{Kind: KindJob}), reason(RolloutFacts{Kind: KindDeployment, Paused: true})
	wantFollowUp := []FollowUp{
		{Wave: "canary", Object: ObjectRef{Kind: "StatefulSet", Namespace: "demo-a", Name: "db"}, Pods: 2, Reason: sts[0], Manual: sts[1]},
		{Wave: "canary", Object: ObjectRef{Kind: "Job", Namespace: "demo-a", Name: "migrate"}, Pods: 1, Reason: job[0], Manual: job[1]},
		{Wave: "canary", Object: ObjectRef{Kind: "Deployment", Namespace: "demo-a", Name: "frozen"}, Pods: 1, Reason: dep[0], Manual: dep[1]},
		{Wave: "canary", Object: ObjectRef{Kind: "Rollout", Namespace: "demo-a", Name: "held"}, Pods: 1, Reason: "Rollout is paused",
			Manual: "promote or resume it (kubectl argo rollouts promote), then restart it after the wave (kubectl argo rollouts restart)"},
		{Wave: "canary", Object: ObjectRef{Kind: "Rollout", Namespace: "demo-a", Name: "byref"}, Pods: 1,
			Reason: "Rollout takes its pod template from Deployment byref (spec.workloadRef)",
			Manual: "restart it after the wave (kubectl argo rollouts restart), so its pods are re-created and injected by the target"},
		// A workload owned by something meshwave does not know is named by
		// its owner: the object a person restarts it through.
		{Wave: "canary", Object: ObjectRef{Kind: "Revision", Namespace: "demo-a", Name: "hello-00001"}, Pods: 1,
			Reason: "owned by Revision.serving.knative.dev hello-00001, which meshwave does not restart",
			Manual: "restart it through its owner Revision hello-00001 after the wave (the way its controller rolls its pods out), so they are re-created and injected by the target"},
	}
	if diff := cmp.Diff(wantFollowUp, p.ManualFollowUp); diff != "" {
		t.Errorf("manual follow-up (-want +got):\n%s", diff)
	}

	// The plan's warnings name the same workloads, with the same words.
	var warned []FollowUp
	for _, c := range p.Checks {
		if c.Code == CodeNotRollable {
			warned = append(warned, FollowUp{Wave: "canary", Object: *c.Object})
		}
	}
	if len(warned) != len(wantFollowUp) {
		t.Errorf("MW011 warnings name %v, want the %d follow-ups", warned, len(wantFollowUp))
	}
	for _, c := range p.Checks {
		if c.Code == CodeNotRollable && c.Object.Name == "migrate" && (!strings.Contains(c.Message, job[0]) || !strings.Contains(c.Hint, job[1])) {
			t.Errorf("MW011 for the Job says %q / %q, want the rule's reason and manual step", c.Message, c.Hint)
		}
	}

	wantCanary := WaveSummary{Name: "canary", Namespaces: 1, Workloads: 3, Pods: 3, FromImage: img16, ToImage: img17}
	if diff := cmp.Diff(wantCanary, p.Summary.Waves[0]); diff != "" {
		t.Errorf("canary summary (-want +got):\n%s", diff)
	}
}

// Who a wave restarts and who still uses the old revision follow from the
// injection webhooks' selectors, as the API server evaluates them: an
// opted-out Deployment in a moved namespace is not restarted; a Deployment
// pinned to the old revision by its pod template's istio.io/rev, in an
// unlabeled namespace no wave moves, blocks the uninstall with MW041 naming
// it (and MW015 does not name its pods again).
func TestComputeInjectionByWebhookSelectors(t *testing.T) {
	const img30, img31 = "docker.io/istio/proxyv2:1.30.0", "docker.io/istio/proxyv2:1.31.0"
	cfg := &config.Config{
		Upgrade:  Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio},
		Waves:    []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
	snap := cluster().
		withNamespace("shop", LabelRevision, "1-30").
		withNamespace("legacy").
		withDeployment("shop", "web", podOn("web-1", img30, "1-30")).
		withWorkload(Workload{Kind: KindDeployment, Namespace: "shop", Name: "batch", TemplateLabels: optedOut,
			Pods: []Pod{podOn("batch-1", img30, "1-30")}}).
		withWorkload(Workload{Kind: KindDeployment, Namespace: "legacy", Name: "cache", TemplateLabels: map[string]string{"app": "cache", LabelRevision: "1-30"},
			Pods: []Pod{podOn("cache-1", img30, "1-30")}}).
		// The object selector would pick it, but its template's annotation
		// opts it out: the old revision injects nothing of it.
		withWorkload(Workload{Kind: KindDeployment, Namespace: "legacy", Name: "report", TemplateLabels: map[string]string{"app": "report", LabelRevision: "1-30"},
			TemplateAnnotations: map[string]string{LabelInjectPod: "false"}, Pods: []Pod{{Name: "report-1", Ready: true}}}).
		withRevision("1-30", "1.30.0", img30).
		withRevision("1-31", "1.31.0", img31).
		build()
	p := Compute(cfg, snap)
	want := []stepLine{
		{"wave/all/relabel/shop", ActionUpdate},
		{"wave/all/restart/shop/deployment/web", ActionRestart},
		{"wave/all/wait", ActionRead},
		{"wave/all/verify", ActionRead},
		{"finalize/uninstall/1-30", ActionDelete},
	}
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	var pinned []Check
	for _, c := range p.Checks {
		switch c.Code {
		case CodePinnedToOld:
			pinned = append(pinned, c)
		case CodeOldStillUsed:
			t.Errorf("MW015 %q: the pinned Deployment's pods are MW041's", c.Message)
		}
	}
	wantPinned := []Check{{Code: CodePinnedToOld, Severity: SeverityError, Object: &ObjectRef{Kind: "Deployment", Namespace: "legacy", Name: "cache"},
		Message: "its pod template's label istio.io/rev=1-30 has its pods injected by the old control plane 1-30, whatever its namespace's labels; the uninstall would leave its next pods without a proxy",
		Hint:    "label its pod template istio.io/rev=1-31 (or remove the label and add namespace legacy to a wave), let it roll, then plan again"}}
	if diff := cmp.Diff(wantPinned, pinned); diff != "" {
		t.Errorf("MW041 (-want +got):\n%s", diff)
	}
	if !p.Blocked() {
		t.Errorf("plan not blocked")
	}

	// Moved by a wave, the namespace's istio.io/rev beats the template's:
	// the restart moves it to 1-31, and nothing pins the old revision.
	cfg.Waves[0].Namespaces = []string{"shop", "legacy"}
	snap.Namespaces[1].Labels = map[string]string{LabelRevision: "1-30"}
	p = Compute(cfg, snap)
	if p.Blocked() {
		t.Errorf("legacy moved by the wave: plan blocked by %+v", p.Checks)
	}
	if !slices.ContainsFunc(p.Steps, func(s Step) bool { return s.ID == "wave/all/restart/legacy/deployment/cache" }) {
		t.Errorf("legacy/cache not restarted: %+v", stepLines(p))
	}
}

// A second injector that selects the relabeled namespace for another
// revision: a restart would not bring the workload to the target, so it is
// not restarted, and MW040 says why.
func TestComputeNextPodNotInjectedByTarget(t *testing.T) {
	const img30, img31 = "docker.io/istio/proxyv2:1.30.0", "docker.io/istio/proxyv2:1.31.0"
	cfg := &config.Config{
		Upgrade: Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio},
		Waves:   []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
	}
	copied := istioInjector("team-injector", "1-30", "", "1-31", false)
	snap := cluster().
		withNamespace("shop", LabelRevision, "1-30").
		withDeployment("shop", "web", podOn("web-1", img30, "1-30")).
		withRevision("1-30", "1.30.0", img30).
		withRevision("1-31", "1.31.0", img31).
		withWebhook(copied).
		build()
	p := Compute(cfg, snap)
	var codes []string
	for _, c := range p.Checks {
		codes = append(codes, c.Code+" "+c.Object.Kind+"/"+c.Object.Name)
	}
	if diff := cmp.Diff([]string{CodeNextPodNotTarget + " Deployment/web", CodeInjectorOverlap + " Namespace/shop"}, codes); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if slices.ContainsFunc(p.Steps, func(s Step) bool { return s.Kind == StepWorkloadRestart }) {
		t.Errorf("web restarted: %+v", stepLines(p))
	}
}

// A workload a restart cannot roll is left to manual follow-up; the
// uninstall is still planned (nothing else uses the old revision once the
// waves are done), and the plan says it waits for the follow-up (MW042):
// apply stops before it until the workload is moved.
func TestComputeUninstallAwaitsFollowUp(t *testing.T) {
	snap := backyardsSnapshot()
	snap.Workloads = append(snap.Workloads, Workload{Kind: KindStatefulSet, Namespace: "demo-b", Name: "cache", UpdateStrategy: UpdateOnDelete,
		Pods: []Pod{podOn("cache-0", img16, "mesh.istio-system")}})
	p := Compute(backyardsConfig(), snap)
	if p.Blocked() || p.Steps[len(p.Steps)-1].Action != ActionDelete {
		t.Fatalf("plan blocked (%v) or no uninstall (%+v)", p.Blocked(), p.Steps[len(p.Steps)-1])
	}
	var got []Check
	for _, c := range p.Checks {
		if c.Code == CodeUninstallAwaitsFollowUp {
			got = append(got, c)
		}
	}
	want := []Check{{Code: CodeUninstallAwaitsFollowUp, Severity: SeverityWarning, Object: &ObjectRef{Kind: "Istio", Namespace: "istio-system", Name: "mesh"},
		Message: "the uninstall waits for the manual follow-up: StatefulSet demo-b/cache (wave rest); apply stops before the uninstall while they still use mesh.istio-system",
		Hint:    "move them by hand after their wave as the follow-up says, then run apply again to uninstall; or set finalize { uninstall_old = false }"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MW042 (-want +got):\n%s", diff)
	}
}

// A workload whose pod template opts out of injection is neither
// restarted nor verified, and the plan names it once, in its namespace's
// line of the wave's summary.
func TestComputeOptedOutWorkloads(t *testing.T) {
	snap := backyardsSnapshot()
	snap.Workloads = append(snap.Workloads,
		// Opted out after it was injected: its pod still runs the old proxy.
		// By the annotation, which the injector's object selector does not
		// read (it selects the pod) but the injector does.
		Workload{Kind: KindDeployment, Namespace: "demo-a", Name: "batch", TemplateAnnotations: map[string]string{LabelInjectPod: "false"},
			Pods: []Pod{podOn("batch-1", img16, "mesh.istio-system")}},
		Workload{Kind: KindStatefulSet, Namespace: "demo-a", Name: "cache", TemplateLabels: optedOut, Pods: []Pod{{Name: "cache-0", Ready: true}}},
	)
	cfg := backyardsConfig()
	cfg.Finalize.UninstallOld = false
	p := Compute(cfg, snap)
	for _, s := range p.Steps {
		if s.Object != nil && (s.Object.Name == "batch" || s.Object.Name == "cache") {
			t.Errorf("step %s acts on an opted-out workload", s.ID)
		}
		for _, w := range s.Workloads {
			if w.Name == "batch" || w.Name == "cache" {
				t.Errorf("step %s covers opted-out %s", s.ID, w.Name)
			}
		}
	}
	want := []OptedOut{{Namespace: "demo-a", Workloads: []ObjectRef{
		{Kind: "Deployment", Namespace: "demo-a", Name: "batch"}, {Kind: "StatefulSet", Namespace: "demo-a", Name: "cache"}}}}
	if diff := cmp.Diff(want, p.Summary.Waves[0].OptedOut); diff != "" {
		t.Errorf("canary opted out (-want +got):\n%s", diff)
	}
	if p.Summary.Waves[1].OptedOut != nil {
		t.Errorf("rest opted out = %+v, want none", p.Summary.Waves[1].OptedOut)
	}
	if len(p.Checks) != 0 {
		t.Errorf("checks = %+v, want none (no MW010 for the pod without a proxy)", p.Checks)
	}
}

// A pod template that pins its proxy image is not restarted (it would keep
// the image) but left as manual follow-up with its own warning; one that
// asks for an injection template the target lacks blocks the plan.
func TestComputePinnedProxies(t *testing.T) {
	const img26, img27 = "istio/proxyv2:1.26.3", "istio/proxyv2:1.27.1"
	cfg := &config.Config{
		Upgrade: Upgrade{From: "1-26", To: "1-27", Flavor: FlavorIstio},
		Waves:   []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
	}
	snap := cluster().
		withNamespace("shop", LabelRevision, "1-26").
		withWorkload(Workload{Kind: KindDeployment, Namespace: "shop", Name: "pinned", ProxyImagePin: img26, Pods: []Pod{podOn("pinned-1", img26, "1-26")}}).
		withWorkload(Workload{Kind: KindDeployment, Namespace: "shop", Name: "pinned-to-target", ProxyImagePin: img27, Pods: []Pod{podOn("ptt-1", img26, "1-26")}}).
		withWorkload(Workload{Kind: KindDeployment, Namespace: "shop", Name: "grpc", InjectTemplates: []string{"grpc-agent"}, Pods: []Pod{podOn("grpc-1", img26, "1-26")}}).
		withWorkload(Workload{Kind: KindDeployment, Namespace: "shop", Name: "custom", InjectTemplates: []string{"sidecar", "team-x"}, Pods: []Pod{podOn("custom-1", img26, "1-26")}}).
		withRevision("1-26", "1.26.3", img26).
		withRevision("1-27", "1.27.1", img27, func(cp *ControlPlane) { cp.InjectTemplates = []string{"gateway", "grpc-agent", "sidecar"} }).
		build()
	p := Compute(cfg, snap)
	var checks []string
	for _, c := range p.Checks {
		checks = append(checks, c.Code+" "+string(c.Severity)+" "+c.Object.Name+": "+c.Message)
	}
	want := []string{
		"MW031 warning pinned: pod template pins proxy image istio/proxyv2:1.26.3 (sidecar.istio.io/proxyImage): a restart keeps it, so meshwave neither restarts nor verifies it",
		"MW032 error custom: pod template asks for injection template team-x (inject.istio.io/templates), which revision 1-27 does not have: its restarted pods could not be injected",
	}
	if diff := cmp.Diff(want, checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	var restarted []string
	for _, s := range p.Steps {
		if s.Kind == StepWorkloadRestart {
			restarted = append(restarted, s.Object.Name)
		}
	}
	if diff := cmp.Diff([]string{"pinned-to-target", "grpc", "custom"}, restarted); diff != "" {
		t.Errorf("restarted (-want +got):\n%s", diff)
	}
	if len(p.ManualFollowUp) != 1 || p.ManualFollowUp[0].Object.Name != "pinned" || p.ManualFollowUp[0].Pods != 1 {
		t.Errorf("manual follow-up = %+v, want the pinned Deployment", p.ManualFollowUp)
	}

	// A target whose templates are unknown (nil) is taken to have them.
	snap.ControlPlanes[1].InjectTemplates = nil
	p = Compute(cfg, snap)
	for _, c := range p.Checks {
		if c.Code == CodeInjectTemplateMissing {
			t.Errorf("MW032 with the target's templates unknown: %+v", c)
		}
	}
}

// A wave that opts in with roll_on_delete rolls its OnDelete StatefulSets by
// evicting their pods, in its restart group in place of the follow-up: the
// wave verifies them (its wait has no rollout of theirs to wait for), the
// plan no longer leaves them to the person applying it, and the uninstall no
// longer waits for them. What an eviction cannot roll (an OnDelete
// DaemonSet, a bare pod) stays follow-up, as does an OnDelete StatefulSet
// of a wave that does not opt in, whose warning offers the opt-in.
func TestComputeRollOnDelete(t *testing.T) {
	const img30, img31 = "istio/proxyv2:1.30.0", "istio/proxyv2:1.31.0"
	onDelete := func(kind WorkloadKind, ns, name string, pods ...Pod) Workload {
		return Workload{Kind: kind, Namespace: ns, Name: name, UpdateStrategy: UpdateOnDelete, Pods: pods}
	}
	cfg := &config.Config{
		Upgrade: Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio},
		Waves: []config.WaveConfig{
			{Name: "canary", Namespaces: []string{"demo-a"}, MaxParallel: 1, Timeout: time.Minute},
			{Name: "rest", Namespaces: []string{"demo-b"}, MaxParallel: 2, Timeout: 5 * time.Minute, RollOnDelete: true},
		},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
	snap := cluster().
		withNamespace("demo-a", LabelRevision, "1-30").
		withNamespace("demo-b", LabelRevision, "1-30").
		withWorkload(onDelete(KindStatefulSet, "demo-a", "db", podOn("db-0", img30, "1-30"))).
		withDeployment("demo-b", "app-b", podOn("app-b-1", img30, "1-30")).
		withWorkload(onDelete(KindStatefulSet, "demo-b", "cache",
			podOn("cache-0", img30, "1-30"), podOn("cache-1", img30, "1-30"), podOn("cache-2", img30, "1-30"))).
		withWorkload(onDelete(KindStatefulSet, "demo-b", "moved", podOn("moved-0", img31, "1-31"))).
		withWorkload(onDelete(KindDaemonSet, "demo-b", "logs", podOn("logs-x", img30, "1-30"))).
		withWorkload(Workload{Kind: KindBarePod, Namespace: "demo-b", Name: "debug", Pods: []Pod{podOn("debug", img30, "1-30")}}).
		withRevision("1-30", "1.30.0", img30).
		withRevision("1-31", "1.31.0", img31).
		build()
	p := Compute(cfg, snap)

	want := []stepLine{
		{"wave/canary/relabel/demo-a", ActionUpdate},
		{"wave/canary/wait", ActionNoop},
		{"wave/canary/verify", ActionRead},
		{"wave/rest/relabel/demo-b", ActionUpdate},
		{"wave/rest/restart/demo-b/deployment/app-b", ActionRestart},
		{"wave/rest/evict/demo-b/statefulset/cache", ActionEvict},
		{"wave/rest/evict/demo-b/statefulset/moved", ActionNoop},
		{"wave/rest/wait", ActionRead},
		{"wave/rest/verify", ActionRead},
		{"finalize/uninstall/1-30", ActionDelete},
	}
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	cache := ObjectRef{Kind: "StatefulSet", Namespace: "demo-b", Name: "cache"}
	wantEvict := Step{ID: "wave/rest/evict/demo-b/statefulset/cache", Kind: StepWorkloadEvict, Action: ActionEvict, Wave: "rest",
		Object: &cache, FromRevision: "1-30", ToRevision: "1-31", FromImage: img30, ToImage: img31, Pods: 3, TimeoutSecond: 300}
	if diff := cmp.Diff([]Step{wantEvict}, p.StepsByID([]string{wantEvict.ID})); diff != "" {
		t.Errorf("evict step (-want +got):\n%s", diff)
	}
	rest, _ := p.WavePhase("rest")
	wantGroups := [][]string{{"wave/rest/relabel/demo-b"},
		{"wave/rest/restart/demo-b/deployment/app-b", "wave/rest/evict/demo-b/statefulset/cache", "wave/rest/evict/demo-b/statefulset/moved"},
		{"wave/rest/wait"}, {"wave/rest/verify"}}
	if diff := cmp.Diff(wantGroups, rest.Groups); diff != "" {
		t.Errorf("rest groups (-want +got):\n%s", diff)
	}
	appB, moved := ObjectRef{Kind: "Deployment", Namespace: "demo-b", Name: "app-b"}, ObjectRef{Kind: "StatefulSet", Namespace: "demo-b", Name: "moved"}
	for _, s := range p.StepsByID([]string{"wave/rest/wait", "wave/rest/verify"}) {
		wantCovers := []ObjectRef{appB, cache, moved}
		if s.Kind == StepWaveWait {
			wantCovers = []ObjectRef{appB}
		}
		if diff := cmp.Diff(wantCovers, s.Workloads); diff != "" {
			t.Errorf("%s covers (-want +got):\n%s", s.ID, diff)
		}
	}

	var followUps []string
	for _, f := range p.ManualFollowUp {
		followUps = append(followUps, f.Wave+" "+f.Object.Kind+" "+f.Object.Name)
	}
	if diff := cmp.Diff([]string{"canary StatefulSet db", "rest DaemonSet logs", "rest Pod debug"}, followUps); diff != "" {
		t.Errorf("manual follow-up (-want +got):\n%s", diff)
	}
	var checks []string
	for _, c := range p.Checks {
		switch c.Code {
		case CodeNotRollable:
			checks = append(checks, c.Code+" "+c.Object.Name+": "+c.Hint)
		case CodeUninstallAwaitsFollowUp:
			checks = append(checks, c.Code+": "+c.Message)
		}
	}
	_, manual := NotRollable(RolloutFacts{Kind: KindStatefulSet, UpdateStrategy: UpdateOnDelete})
	_, bare := NotRollable(RolloutFacts{Kind: KindBarePod})
	wantChecks := []string{
		"MW011 db: apply leaves it to you: " + manual + `; or set roll_on_delete = true in wave "canary" and apply evicts its pods one at a time, honouring PodDisruptionBudgets`,
		"MW011 logs: apply leaves it to you: " + manual,
		"MW011 debug: apply leaves it to you: " + bare,
		"MW042: the uninstall waits for the manual follow-up: StatefulSet demo-a/db (wave canary), DaemonSet demo-b/logs (wave rest), Pod demo-b/debug (wave rest); apply stops before the uninstall while they still use 1-30",
	}
	if diff := cmp.Diff(wantChecks, checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}

	wantRest := WaveSummary{Name: "rest", Namespaces: 1, Workloads: 3, Pods: 5, FromImage: img30, ToImage: img31}
	if diff := cmp.Diff(wantRest, p.Summary.Waves[1]); diff != "" {
		t.Errorf("rest summary (-want +got):\n%s", diff)
	}
	if s := p.Summary; s.Restart != 1 || s.Evict != 1 || s.Changes != 5 {
		t.Errorf("summary counts restart %d, evict %d, changes %d; want 1, 1, 5", s.Restart, s.Evict, s.Changes)
	}
	var rollback [][]string
	for _, rp := range p.RollbackOrder {
		if rp.Wave == "rest" {
			rollback = rp.Groups
		}
	}
	wantRollback := [][]string{{"wave/rest/relabel/demo-b"},
		{"wave/rest/restart/demo-b/deployment/app-b", "wave/rest/evict/demo-b/statefulset/cache", "wave/rest/evict/demo-b/statefulset/moved"}}
	if diff := cmp.Diff(wantRollback, rollback); diff != "" {
		t.Errorf("rest rollback groups (-want +got):\n%s", diff)
	}
}

// TestComputeRelabelsTogether: a wave's relabels are one group, run at most
// max_parallel at once like its restarts, and all of them come before the
// group of restarts, so every new pod is injected by the target.
func TestComputeRelabelsTogether(t *testing.T) {
	const img30, img31 = "istio/proxyv2:1.30.0", "istio/proxyv2:1.31.0"
	cfg := &config.Config{
		Upgrade: Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio},
		Waves:   []config.WaveConfig{{Name: "all", Namespaces: []string{"a", "b", "c"}, MaxParallel: 32, Timeout: time.Minute}},
	}
	snap := cluster().
		withNamespace("a", LabelRevision, "1-30").
		withNamespace("b", LabelRevision, "1-30").
		withNamespace("c", LabelRevision, "1-30").
		withDeployment("a", "web", podOn("web-1", img30, "1-30")).
		withDeployment("c", "api", podOn("api-1", img30, "1-30")).
		withRevision("1-30", "1.30.0", img30).
		withRevision("1-31", "1.31.0", img31).
		build()
	p := Compute(cfg, snap)
	all, ok := p.WavePhase("all")
	if !ok {
		t.Fatal("no phase for wave all")
	}
	want := [][]string{
		{"wave/all/relabel/a", "wave/all/relabel/b", "wave/all/relabel/c"},
		{"wave/all/restart/a/deployment/web", "wave/all/restart/c/deployment/api"},
		{"wave/all/wait"}, {"wave/all/verify"},
	}
	if diff := cmp.Diff(want, all.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if all.Parallel() != 32 {
		t.Errorf("the wave runs %d steps of a group at once, want max_parallel 32", all.Parallel())
	}
}
