package views

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// Hand-written plans shaped like the ones plan.Compute produces, so the views
// can be reviewed (and their golden files read) without a cluster.

const (
	byFrom      = "mesh.istio-system"
	byTo        = "cp-v17x.istio-system"
	byFromImage = "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"
	byToImage   = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
)

func ref(kind, ns, name string) *plan.ObjectRef {
	return &plan.ObjectRef{Kind: kind, Namespace: ns, Name: name}
}

// backyardsWave is one namespace with one single-pod deployment, moved from
// the 1.6 to the 1.7 control plane, then the wave's gates, added to p.
func backyardsWave(p *plan.Plan, wave, ns, app string, maxParallel int, timeout time.Duration, gates ...plan.Gate) {
	w := "wave/" + wave + "/"
	secs := int64(timeout / time.Second)
	steps := []plan.Step{
		{ID: w + "relabel/" + ns, Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate, Wave: wave,
			Object: ref("Namespace", "", ns), FromRevision: byFrom, ToRevision: byTo,
			SetLabels: map[string]string{"istio.io/rev": byTo}, RemoveLabels: []string{"istio-injection"}},
		{ID: w + "restart/" + ns + "/deployment/" + app, Kind: plan.StepWorkloadRestart, Action: plan.ActionRestart, Wave: wave,
			Object: ref("Deployment", ns, app), FromRevision: byFrom, ToRevision: byTo,
			FromImage: byFromImage, ToImage: byToImage, Pods: 1, TimeoutSecond: secs},
		{ID: w + "wait", Kind: plan.StepWaveWait, Action: plan.ActionRead, Wave: wave, Namespaces: []string{ns},
			Workloads: []plan.ObjectRef{*ref("Deployment", ns, app)}, TimeoutSecond: secs, ToRevision: byTo},
		{ID: w + "verify", Kind: plan.StepWaveVerify, Action: plan.ActionRead, Wave: wave, Namespaces: []string{ns},
			Workloads: []plan.ObjectRef{*ref("Deployment", ns, app)}, Pods: 1, FromRevision: byFrom, ToRevision: byTo,
			FromImage: byFromImage, ToImage: byToImage, TimeoutSecond: secs},
	}
	for i, g := range gates {
		steps = append(steps, plan.Step{ID: w + "gate/" + strconv.Itoa(i) + "-" + string(g.Kind), Kind: plan.StepGate,
			Action: plan.ActionRead, Wave: wave, Gate: &g})
	}
	p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: wave, MaxParallel: maxParallel}, plan.OneByOne(steps...)...)
}

func backyardsWaveSummary(wave string) plan.WaveSummary {
	return plan.WaveSummary{Name: wave, Namespaces: 1, Workloads: 1, Pods: 1, FromImage: byFromImage, ToImage: byToImage}
}

var headlessWarning = plan.Check{Code: "MW007", Severity: plan.SeverityWarning,
	Object:  ref("Service", "demo-b", "app-b-headless"),
	Message: "headless Service: Istio 1.7.0 does not update its endpoints in istiod when it scales (istio/istio#26617)",
	Hint:    "restart istiod after scaling this service, or target Istio 1.7.1 or later"}

// backyardsPlan is examples/backyards-1.6-to-1.7 on the blog post's cluster:
// the ingress gateway; demo-a as the canary wave with HTTP, pause and
// approval gates; demo-b after it; then the 1.6 control plane removed.
func backyardsPlan() *plan.Plan {
	p := &plan.Plan{
		FormatVersion: plan.FormatVersion,
		From:          byFrom, To: byTo, Flavor: plan.FlavorBackyards,
		Checks: []plan.Check{headlessWarning},
		Summary: plan.Summary{Changes: 6, Relabel: 2, Restart: 2, Gateways: 1, Uninstall: 1, Warnings: 1,
			Waves: []plan.WaveSummary{backyardsWaveSummary("canary"), backyardsWaveSummary("rest")}},
		SourceHash:        "9f2c4e1ab07d5c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f506",
		AutomaticRollback: true,
	}
	p.AddPhase(plan.Phase{Kind: plan.PhaseGateways}, []plan.Step{{ID: "gateway/istio-system/istio-ingressgateway", Kind: plan.StepGatewayMigrate, Action: plan.ActionUpdate,
		Object: ref("MeshGateway", "istio-system", "istio-ingressgateway"), FromRevision: byFrom, ToRevision: byTo,
		FromImage: byFromImage, ToImage: byToImage, Pods: 1}})
	backyardsWave(p, "canary", "demo-a", "app-a", 1, 10*time.Minute,
		config.Gate{Kind: config.GateHTTP, HTTP: &config.HTTPGate{URL: "http://app-a.demo-a.svc.cluster.local:8080/",
			ExpectStatus: 200, Attempts: 5, Interval: 10 * time.Second, Timeout: 10 * time.Second}},
		config.Gate{Kind: config.GatePause, Pause: 10 * time.Minute},
		config.Gate{Kind: config.GateApproval})
	backyardsWave(p, "rest", "demo-b", "app-b", 2, 15*time.Minute)
	p.AddPhase(plan.Phase{Kind: plan.PhaseFinalize}, []plan.Step{{ID: "finalize/uninstall/" + byFrom, Kind: plan.StepUninstall, Action: plan.ActionDelete,
		Object: ref("Istio", "istio-system", "mesh"), FromRevision: byFrom, FromImage: byFromImage}})
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	return p
}

// backyardsLuaErrorPlan is the same plan on a cluster with an old-syntax Lua
// EnvoyFilter: an error check that blocks apply.
func backyardsLuaErrorPlan() *plan.Plan {
	p := backyardsPlan()
	p.Checks = []plan.Check{{Code: "MW005", Severity: plan.SeverityError,
		Object:  ref("EnvoyFilter", "demo-a", "lua-inject-header"),
		Message: "EnvoyFilter uses the pre-1.7 Lua filter syntax without a proxy version match: istio-proxy containers on Istio 1.7.0 won't start",
		Hint:    `rewrite the Lua patch with typed_config (type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua), or limit it with match.proxy.proxyVersion: '^1\.6.*'`,
	}, headlessWarning}
	p.Summary.Errors = 1
	return p
}

// backyardsDonePlan is a second plan after a finished apply: everything is
// on the target, the old control plane is gone, nothing to do.
func backyardsDonePlan() *plan.Plan {
	p := backyardsPlan()
	p.Checks = nil
	var steps []plan.Step
	for _, s := range p.Steps {
		switch s.Kind {
		case plan.StepGatewayMigrate:
			s.Action, s.Reason, s.FromRevision, s.FromImage = plan.ActionNoop, "gateway already runs on "+byTo, byTo, byToImage
		case plan.StepNamespaceRelabel:
			s.Action, s.Reason, s.SetLabels, s.RemoveLabels = plan.ActionNoop, "namespace already labeled istio.io/rev="+byTo, nil, nil
		case plan.StepWorkloadRestart:
			s.Action, s.Reason = plan.ActionNoop, "every pod already runs "+byToImage
		case plan.StepWaveWait:
			s.Action, s.Reason, s.Workloads = plan.ActionNoop, "nothing restarted", nil
		case plan.StepWaveVerify:
			s.Action, s.Reason = plan.ActionNoop, "wave already on "+byTo
		case plan.StepGate:
			s.Action, s.Reason = plan.ActionNoop, "wave has no changes"
		case plan.StepUninstall:
			continue // the source control plane is no longer installed
		}
		steps = append(steps, s)
	}
	p.Steps = steps
	p.Phases = slices.DeleteFunc(p.Phases, func(ph plan.Phase) bool { return ph.Kind == plan.PhaseFinalize })
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	p.Summary = plan.Summary{Waves: p.Summary.Waves}
	return p
}

const (
	isFrom      = "1-26"
	isTo        = "1-27"
	isFromImage = "docker.io/istio/proxyv2:1.26.4"
	isToImage   = "docker.io/istio/proxyv2:1.27.1"
)

func float(f float64) *float64 { return &f }

// istioPlan is upstream Istio with revisions: a canary wave with pause, HTTP
// and Prometheus gates, then a wave picked by a namespace selector in which
// one namespace is already moved and one workload cannot be restarted.
func istioPlan() *plan.Plan {
	restart := func(wave, ns, kind, name string, pods int) plan.Step {
		return plan.Step{ID: "wave/" + wave + "/restart/" + ns + "/" + strings.ToLower(kind) + "/" + name, Kind: plan.StepWorkloadRestart,
			Action: plan.ActionRestart, Wave: wave, Object: ref(kind, ns, name), FromRevision: isFrom, ToRevision: isTo,
			FromImage: isFromImage, ToImage: isToImage, Pods: pods, TimeoutSecond: 900}
	}
	relabel := func(wave, ns string) plan.Step {
		return plan.Step{ID: "wave/" + wave + "/relabel/" + ns, Kind: plan.StepNamespaceRelabel, Action: plan.ActionUpdate,
			Wave: wave, Object: ref("Namespace", "", ns), FromRevision: isFrom, ToRevision: isTo,
			SetLabels: map[string]string{"istio.io/rev": isTo}}
	}
	gate := func(wave string, i int, g plan.Gate) plan.Step {
		return plan.Step{ID: "wave/" + wave + "/gate/" + strconv.Itoa(i) + "-" + string(g.Kind), Kind: plan.StepGate,
			Action: plan.ActionRead, Wave: wave, Gate: &g}
	}
	cartRestart := restart("canary", "shop-canary", "Deployment", "cart", 2)
	canary := []plan.Step{
		relabel("canary", "shop-canary"),
		cartRestart,
		{ID: "wave/canary/wait", Kind: plan.StepWaveWait, Action: plan.ActionRead, Wave: "canary",
			Namespaces: []string{"shop-canary"}, Workloads: []plan.ObjectRef{*cartRestart.Object}, TimeoutSecond: 900, ToRevision: isTo},
		{ID: "wave/canary/verify", Kind: plan.StepWaveVerify, Action: plan.ActionRead, Wave: "canary",
			Namespaces: []string{"shop-canary"}, Workloads: []plan.ObjectRef{*cartRestart.Object}, Pods: 2,
			FromRevision: isFrom, ToRevision: isTo, FromImage: isFromImage, ToImage: isToImage, TimeoutSecond: 900},
		gate("canary", 0, config.Gate{Kind: config.GatePause, Pause: 10 * time.Minute}),
		gate("canary", 1, config.Gate{Kind: config.GateHTTP, HTTP: &config.HTTPGate{URL: "http://cart.shop-canary.svc:8080/healthz",
			ExpectStatus: 200, Attempts: 3, Interval: 5 * time.Second, Timeout: 10 * time.Second}}),
		gate("canary", 2, config.Gate{Kind: config.GatePrometheus, Prometheus: &config.PrometheusGate{URL: "http://prometheus.monitoring:9090",
			Query: `sum(rate(istio_requests_total{destination_workload_namespace="shop-canary",response_code=~"5.."}[5m])) / sum(rate(istio_requests_total{destination_workload_namespace="shop-canary"}[5m]))`,
			Max:   float(0.01)}}),
	}
	web := restart("rest", "shop", "Deployment", "web", 3)
	db := restart("rest", "shop", "StatefulSet", "orders-db", 2)
	pay := restart("rest", "payments", "Deployment", "payments-api", 2)
	legacyRelabel := relabel("rest", "legacy")
	legacyRelabel.Action, legacyRelabel.Reason, legacyRelabel.SetLabels = plan.ActionNoop, "namespace already labeled istio.io/rev="+isTo, nil
	// A bare pod is no step: the plan leaves it to the person applying it.
	debugWhy, debugManual := plan.NotRollable(plan.RolloutFacts{Kind: plan.KindBarePod})
	debug := plan.FollowUp{Wave: "rest", Object: *ref("Pod", "payments", "debug-shell"), Pods: 1, Reason: debugWhy, Manual: debugManual}
	moved := []plan.ObjectRef{*web.Object, *db.Object, *pay.Object}
	rest := []plan.Step{
		relabel("rest", "legacy"), relabel("rest", "payments"), relabel("rest", "shop"),
		web, db, pay,
		{ID: "wave/rest/wait", Kind: plan.StepWaveWait, Action: plan.ActionRead, Wave: "rest",
			Namespaces: []string{"legacy", "payments", "shop"}, Workloads: moved, TimeoutSecond: 900, ToRevision: isTo},
		{ID: "wave/rest/verify", Kind: plan.StepWaveVerify, Action: plan.ActionRead, Wave: "rest",
			Namespaces: []string{"legacy", "payments", "shop"}, Workloads: moved, Pods: 7,
			FromRevision: isFrom, ToRevision: isTo, FromImage: isFromImage, ToImage: isToImage, TimeoutSecond: 900},
		gate("rest", 0, config.Gate{Kind: config.GateApproval}),
		gate("rest", 1, config.Gate{Kind: config.GateCommand, Command: &config.CommandGate{
			Argv: []string{"./smoke-test.sh", "--namespace", "shop", "--expect", "all green"}, Timeout: 5 * time.Minute}}),
	}
	rest[0] = legacyRelabel
	p := &plan.Plan{
		FormatVersion: plan.FormatVersion,
		From:          isFrom, To: isTo, FromVersion: "1.26.4", ToVersion: "1.27.1", Flavor: plan.FlavorIstio,
		Checks: []plan.Check{{Code: "MW011", Severity: plan.SeverityWarning, Object: ref("Pod", "payments", "debug-shell"),
			Message: "cannot be restarted by meshwave: " + debugWhy,
			Hint:    "apply leaves it to you: " + debugManual}},
		// A setting made by hand on 1-26, proxy resources changed, and one
		// new in 1.27's values.
		Settings: &plan.SettingsDiff{Changes: []plan.SettingChange{
			{Source: plan.SettingsMesh, Path: "defaultConfig.holdApplicationUntilProxyStarts", From: "true"},
			{Source: plan.SettingsValues, Path: "global.proxy.resources.limits.cpu", From: `"2000m"`, To: `"1000m"`},
			{Source: plan.SettingsValues, Path: "global.proxy.startupProbe.enabled", To: "true"},
		}, More: 2},
		ManualFollowUp: []plan.FollowUp{debug},
		Summary: plan.Summary{Changes: 8, Relabel: 3, Restart: 4, Gateways: 1, Uninstall: 1, Warnings: 1,
			Waves: []plan.WaveSummary{
				{Name: "canary", Namespaces: 1, Workloads: 1, Pods: 2, FromImage: isFromImage, ToImage: isToImage},
				{Name: "rest", Namespaces: 3, Workloads: 3, Pods: 7, FromImage: isFromImage, ToImage: isToImage,
					OptedOut: []plan.OptedOut{{Namespace: "payments", Workloads: []plan.ObjectRef{*ref("Deployment", "payments", "batch-export")}}}},
			}},
		SourceHash: "0b5d8e2f41c7a9630e1f2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978",
	}
	p.AddPhase(plan.Phase{Kind: plan.PhaseGateways}, []plan.Step{{ID: "gateway/istio-system/istio-ingressgateway", Kind: plan.StepGatewayMigrate, Action: plan.ActionUpdate,
		Object: ref("Deployment", "istio-system", "istio-ingressgateway"), FromRevision: isFrom, ToRevision: isTo,
		FromImage: isFromImage, ToImage: isToImage, Pods: 2}})
	p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: "canary", MaxParallel: 2}, plan.OneByOne(canary...)...)
	// rest: three relabels one by one, the three restarts together, then
	// wait, verify and the gates.
	restGroups := append(plan.OneByOne(rest[:3]...), rest[3:6])
	p.AddPhase(plan.Phase{Kind: plan.PhaseWave, Wave: "rest", MaxParallel: 2}, append(restGroups, plan.OneByOne(rest[6:]...)...)...)
	p.AddPhase(plan.Phase{Kind: plan.PhaseFinalize}, []plan.Step{{ID: "finalize/uninstall/" + isFrom, Kind: plan.StepUninstall, Action: plan.ActionDelete,
		Object: ref("IstioOperator", "istio-system", "installed-state-"+isFrom), FromRevision: isFrom, FromImage: isFromImage}})
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	return p
}

// istioEvictPlan is the istio plan whose rest wave opts in to
// roll_on_delete: it rolls the OnDelete StatefulSet shop/orders-cache by
// evicting its pods, in its restart group, and verifies it.
func istioEvictPlan() *plan.Plan {
	p := istioPlan()
	evict := plan.Step{ID: "wave/rest/evict/shop/statefulset/orders-cache", Kind: plan.StepWorkloadEvict, Action: plan.ActionEvict,
		Wave: "rest", Object: ref("StatefulSet", "shop", "orders-cache"), FromRevision: isFrom, ToRevision: isTo,
		FromImage: isFromImage, ToImage: isToImage, Pods: 3, TimeoutSecond: 900}
	at := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.ID == "wave/rest/wait" })
	p.Steps = slices.Insert(p.Steps, at, evict)
	for i, ph := range p.Phases {
		if ph.Wave == "rest" {
			p.Phases[i].Groups[3] = append(slices.Clone(ph.Groups[3]), evict.ID)
		}
	}
	for i, s := range p.Steps {
		if s.ID == "wave/rest/verify" {
			p.Steps[i].Workloads = append(slices.Clone(s.Workloads), *evict.Object)
			p.Steps[i].Pods += evict.Pods
		}
	}
	p.Summary.Changes++
	p.Summary.Evict = 1
	p.Summary.Waves = slices.Clone(p.Summary.Waves)
	p.Summary.Waves[1].Workloads++
	p.Summary.Waves[1].Pods += evict.Pods
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	return p
}

// istioBlockedPlan is the istio plan on a cluster where the new istiod is
// not Ready and the caller may not patch deployments.
func istioBlockedPlan() *plan.Plan {
	p := istioPlan()
	p.Checks = append([]plan.Check{
		{Code: "MW002", Severity: plan.SeverityError, Object: ref("Deployment", "istio-system", "istiod-1-27"),
			Message: `target control plane "1-27" has 2 istiod pod(s), 1 Ready`,
			Hint:    "wait until the new istiod is Ready (kubectl get po -n istio-system), or fix the control plane before moving workloads to it"},
		{Code: "MW012", Severity: plan.SeverityError, Object: ref("Namespace", "", "payments"),
			Message: "cannot patch deployments.apps in namespace payments",
			Hint:    "grant the role used by meshwave patch on deployments.apps (see docs/permissions.md)"},
		{Code: "MW034", Severity: plan.SeverityError,
			Range:   &hcl.Range{Filename: "upgrade.mw.hcl", Start: hcl.Pos{Line: 1, Column: 1, Byte: 0}, End: hcl.Pos{Line: 1, Column: 8, Byte: 7}},
			Message: "Istio 1.26.4 to 1.28.0 is 2 minor versions: a rollback of a failed wave would move its proxies back across more than one minor version, which Istio does not support",
			Hint:    "upgrade one minor version at a time (install the revision in between), or set rollback { automatic = false }"},
	}, p.Checks...)
	p.Summary.Errors = 3
	p.ToVersion = "1.28.0"
	return p
}

// istioInstallPlan is the istio plan that installs its target first, from
// a manifest: objects it creates, a CRD both revisions share that it
// changes, one it leaves as it is; then the wait for the new istiod.
func istioInstallPlan() *plan.Plan {
	p := istioPlan()
	install := plan.Step{ID: "install/" + isTo, Kind: plan.StepInstall, Action: plan.ActionCreate,
		Object: ref("Deployment", "istio-system", "istiod-"+isTo), ToRevision: isTo, ToImage: isToImage,
		Manifest: []plan.ManifestChange{
			{ObjectRef: *ref("ServiceAccount", "istio-system", "istiod-"+isTo), APIVersion: "v1", Action: plan.ActionCreate,
				JSON: []byte(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"istiod-1-27","namespace":"istio-system"}}`)},
			{ObjectRef: *ref("CustomResourceDefinition", "", "gateways.networking.istio.io"), APIVersion: "apiextensions.k8s.io/v1",
				Action: plan.ActionUpdate, Shared: true, Changes: []plan.FieldChange{
					{Path: "metadata.labels.app.kubernetes.io/version", From: `"1.26.4"`, To: `"1.27.1"`},
					{Path: "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.selector.description", To: `"One or more labels"`}},
				JSON: []byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"gateways.networking.istio.io"}}`)},
			{ObjectRef: *ref("ServiceAccount", "istio-system", "istio-reader-service-account"), APIVersion: "v1", Action: plan.ActionNoop,
				JSON: []byte(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"istio-reader-service-account","namespace":"istio-system"}}`)},
			{ObjectRef: *ref("Deployment", "istio-system", "istiod-"+isTo), APIVersion: "apps/v1", Action: plan.ActionCreate,
				JSON: []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"istiod-1-27","namespace":"istio-system"}}`)},
		}}
	wait := plan.Step{ID: "install/" + isTo + "/wait", Kind: plan.StepInstallWait, Action: plan.ActionRead,
		Object: install.Object, ToRevision: isTo, ToImage: isToImage, TimeoutSecond: 300}
	q := &plan.Plan{}
	q.AddPhase(plan.Phase{Kind: plan.PhaseInstall}, []plan.Step{install}, []plan.Step{wait})
	p.Steps = append(q.Steps, p.Steps...)
	p.Phases = append(q.Phases, p.Phases...)
	p.Summary.Changes++
	p.Summary.Install = 3
	p.RollbackOrder = plan.RollbackOrder(p.Steps, p.Phases)
	return p
}
