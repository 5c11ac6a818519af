package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// istiodConfigMap is a ConfigMap of a revision's istiod as the istiod chart
// (and so istioctl install) labels it.
func istiodConfigMap(name, rev string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: name, Labels: map[string]string{
		plan.LabelRevision: rev, plan.LabelComponent: "Pilot", "release": "istio",
		"install.operator.istio.io/owning-resource": "unknown"}}, Data: data}
}

// meshConfigMap is istio-REV (istio for the default revision): the mesh
// config as YAML under mesh, beside meshNetworks.
func meshConfigMap(rev, extra string) *corev1.ConfigMap {
	addr := plan.IstiodName(rev) + ".istio-system.svc:15012"
	return istiodConfigMap(plan.MeshConfigName(rev), rev, map[string]string{
		"meshNetworks": "networks: {}",
		"mesh": "defaultConfig:\n  discoveryAddress: " + addr + "\n  tracing: {}\n" + extra +
			"defaultProviders:\n  metrics:\n  - prometheus\nenablePrometheusMerge: true\nrootNamespace: istio-system\ntrustDomain: cluster.local",
	})
}

// injectorConfigMap is istio-sidecar-injector-REV: the injection values as
// pretty JSON under values, the templates under config.
func injectorConfigMap(rev, tag, cpu string) *corev1.ConfigMap {
	revision := rev
	if rev == config.DefaultRevision {
		revision = ""
	}
	return istiodConfigMap(plan.InjectorWebhookName(rev), rev, map[string]string{
		"values": `{
  "gateways": {"securityContext": {}, "seccompProfile": {}},
  "global": {
    "hub": "docker.io/istio",
    "istioNamespace": "istio-system",
    "proxy": {
      "image": "proxyv2",
      "holdApplicationUntilProxyStarts": false,
      "resources": {"limits": {"cpu": "` + cpu + `", "memory": "1024Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    },
    "tag": "` + tag + `"
  },
  "pilot": {"cni": {"enabled": false}, "env": {}},
  "revision": "` + revision + `",
  "sidecarInjectorWebhook": {"enableNamespacesByDefault": false, "rewriteAppHTTPProbe": true, "templates": {}}
}`,
		"config": "defaultTemplates: [sidecar]\npolicy: enabled\ntemplates:\n  sidecar: |\n    spec: {}\n",
	})
}

// Observe keeps each revision's mesh config and injection values, read from
// ConfigMaps shaped as istioctl installs them (the default revision's
// without a suffix), and leaves out the chart's values-REV debugging copy.
func TestObserveReadsRevisionSettings(t *testing.T) {
	webhook := func(rev string) *admissionregistrationv1.MutatingWebhookConfiguration {
		wh := injectorWebhook(plan.InjectorWebhookName(rev), rev, "", "https://127.0.0.1:15017")
		return &wh
	}
	debugCopy := istiodConfigMap("values-1-31", "1-31", map[string]string{"merged-values": `{"global":{"tag":"1.31.0"},"meshConfig":{"x":1}}`})
	c := newCluster(t, []runtime.Object{
		webhook("default"), webhook("1-31"),
		meshConfigMap("default", "  holdApplicationUntilProxyStarts: true\n"), injectorConfigMap("default", "1.30.0", "2000m"),
		meshConfigMap("1-31", ""), injectorConfigMap("1-31", "1.31.0", "2000m"), debugCopy,
	}, nil)
	p := c.provider(t, plan.FlavorIstio)
	p.meta = metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	objs, err := p.fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshotOf(upstreamIstio{}, &config.Config{}, objs)
	settings := map[string]plan.Settings{}
	for _, cp := range snap.ControlPlanes {
		settings[cp.Revision] = cp.Settings
	}
	def := settings["default"]
	for source, want := range map[string]map[string]string{
		plan.SettingsMesh: {
			"defaultConfig.discoveryAddress":                `"istiod.istio-system.svc:15012"`,
			"defaultConfig.holdApplicationUntilProxyStarts": "true",
			"defaultConfig.tracing":                         "{}",
			"defaultProviders.metrics[0]":                   `"prometheus"`,
			"enablePrometheusMerge":                         "true",
			"rootNamespace":                                 `"istio-system"`,
			"trustDomain":                                   `"cluster.local"`,
		},
		plan.SettingsValues: {
			"gateways.seccompProfile":                          "{}",
			"gateways.securityContext":                         "{}",
			"global.hub":                                       `"docker.io/istio"`,
			"global.istioNamespace":                            `"istio-system"`,
			"global.proxy.image":                               `"proxyv2"`,
			"global.proxy.holdApplicationUntilProxyStarts":     "false",
			"global.proxy.resources.limits.cpu":                `"2000m"`,
			"global.proxy.resources.limits.memory":             `"1024Mi"`,
			"global.proxy.resources.requests.cpu":              `"100m"`,
			"global.proxy.resources.requests.memory":           `"128Mi"`,
			"global.tag":                                       `"1.30.0"`,
			"pilot.cni.enabled":                                "false",
			"pilot.env":                                        "{}",
			"revision":                                         `""`,
			"sidecarInjectorWebhook.enableNamespacesByDefault": "false",
			"sidecarInjectorWebhook.rewriteAppHTTPProbe":       "true",
			"sidecarInjectorWebhook.templates":                 "{}",
		},
	} {
		if d := cmp.Diff(want, def.Sources[source]); d != "" {
			t.Errorf("default revision's %s (-want +got):\n%s", source, d)
		}
	}
	got := plan.CompareSettings(settings["default"], settings["1-31"], plan.RulesOf(plan.FlavorIstio).RevisionSpecific)
	want := &plan.SettingsDiff{Changes: []plan.SettingChange{
		{Source: plan.SettingsMesh, Path: "defaultConfig.holdApplicationUntilProxyStarts", From: "true"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("default → 1-31 (-want +got):\n%s", d)
	}
}

// A mesh config that is not YAML leaves that source out, so the plan says
// nothing of it rather than list every setting as removed.
func TestUnreadableMeshConfigLeftOut(t *testing.T) {
	broken := meshConfigMap("1-31", "")
	broken.Data["mesh"] = "defaultConfig: [unclosed"
	objs := &clusterObjects{configMaps: []corev1.ConfigMap{*broken, *injectorConfigMap("1-31", "1.31.0", "1")}}
	cps := istioControlPlanes(objs)
	if len(cps) != 1 {
		t.Fatalf("control planes %+v", cps)
	}
	if _, ok := cps[0].Settings.Sources[plan.SettingsMesh]; ok {
		t.Errorf("an unreadable mesh config was kept: %v", cps[0].Settings.Sources[plan.SettingsMesh])
	}
	if len(cps[0].Settings.Sources[plan.SettingsValues]) == 0 {
		t.Errorf("the injection values were not kept")
	}
}

// A Backyards control plane's settings are its Istio resource's spec.
func TestBackyardsSettings(t *testing.T) {
	istio := func(name, version, cpu string) unstructured.Unstructured {
		return unstructured.Unstructured{Object: map[string]any{
			"apiVersion": gvrIstio.GroupVersion().String(), "kind": "Istio",
			"metadata": map[string]any{"name": name, "namespace": "istio-system"},
			"spec": map[string]any{"version": version, "autoMtls": true,
				"proxy":      map[string]any{"image": "banzaicloud/istio-proxyv2:" + version, "resources": map[string]any{"limits": map[string]any{"cpu": cpu}}},
				"pilot":      map[string]any{"image": "banzaicloud/istio-pilot:" + version, "replicaCount": int64(1)},
				"meshPolicy": map[string]any{"mtlsMode": "PERMISSIVE"}},
		}}
	}
	cps := backyards{}.controlPlanes(&clusterObjects{crs: map[schema.GroupVersionResource][]unstructured.Unstructured{
		gvrIstio: {istio("cp-v16x", "1.6.3", "2"), istio("cp-v17x", "1.7.0", "1")}}})
	got := plan.CompareSettings(cps[0].Settings, cps[1].Settings, plan.RulesOf(plan.FlavorBackyards).RevisionSpecific)
	want := &plan.SettingsDiff{Changes: []plan.SettingChange{
		{Source: plan.SettingsSpec, Path: "proxy.resources.limits.cpu", From: `"2"`, To: `"1"`}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cp-v16x → cp-v17x (-want +got):\n%s", d)
	}
	if v := cps[0].Settings.Sources[plan.SettingsSpec]["pilot.replicaCount"]; v != "1" {
		t.Errorf("pilot.replicaCount = %q, want 1", v)
	}
}
