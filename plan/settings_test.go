package plan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan/config"
)

func decoded(t *testing.T, doc string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A document becomes one path per value: keys joined by dots, keys that
// hold a dot quoted, list items by index, empty maps and lists kept, values
// as compact JSON with numbers as written.
func TestFlattenSettings(t *testing.T) {
	got := FlattenSettings(decoded(t, `{
		"defaultConfig": {"holdApplicationUntilProxyStarts": true, "concurrency": 2, "proxyMetadata": {}},
		"defaultProviders": {"metrics": ["prometheus"]},
		"extensionProviders": [{"name": "otel", "port": 4317}],
		"injectedAnnotations": {"sidecar.istio.io/rewriteAppHTTPProbers": "true"},
		"meshMTLS": null, "outboundTrafficPolicy": [], "resources": {"limits": {"cpu": "2", "memory": 1e9}}
	}`))
	want := map[string]string{
		"defaultConfig.holdApplicationUntilProxyStarts":                 "true",
		"defaultConfig.concurrency":                                     "2",
		"defaultConfig.proxyMetadata":                                   "{}",
		"defaultProviders.metrics[0]":                                   `"prometheus"`,
		"extensionProviders[0].name":                                    `"otel"`,
		"extensionProviders[0].port":                                    "4317",
		`injectedAnnotations["sidecar.istio.io/rewriteAppHTTPProbers"]`: `"true"`,
		"meshMTLS":                "null",
		"outboundTrafficPolicy":   "[]",
		"resources.limits.cpu":    `"2"`,
		"resources.limits.memory": "1e9",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("paths (-want +got):\n%s", d)
	}
}

// A long value (an inline injection template) is kept as its start, its
// length and a hash: two templates that differ past the start still differ.
func TestLongSettingValue(t *testing.T) {
	a := FlattenSettings(map[string]any{"t": strings.Repeat("x", 500) + "a"})["t"]
	b := FlattenSettings(map[string]any{"t": strings.Repeat("x", 500) + "b"})["t"]
	if a == b {
		t.Errorf("two long values read the same: %q", a)
	}
	if len(a) > maxSettingValue+60 || !strings.Contains(a, "(503 bytes, sha256:") {
		t.Errorf("long value kept as %q", a)
	}
}

// A snapshot keeps at most MaxSettings paths per control plane, the same
// ones every time, and counts the rest.
func TestSettingsOfBounded(t *testing.T) {
	mesh := map[string]any{}
	for i := range MaxSettings + 5 {
		mesh[fmt.Sprintf("k%05d", i)] = i
	}
	s := SettingsOf(map[string]any{SettingsMesh: mesh, SettingsValues: map[string]any{"global": map[string]any{"tag": "1.31.0"}}})
	if n := len(s.Sources[SettingsMesh]) + len(s.Sources[SettingsValues]); n != MaxSettings || s.LeftOut != 6 {
		t.Errorf("kept %d paths, left out %d; want %d and 6", n, s.LeftOut, MaxSettings)
	}
	if _, ok := s.Sources[SettingsMesh]["k02004"]; ok {
		t.Errorf("kept a path past the bound")
	}
	if _, ok := s.Sources[SettingsValues]; !ok {
		t.Errorf("a source all of whose paths were left out is missing, not empty")
	}
}

func istioSettings(t *testing.T, mesh, values string) Settings {
	docs := map[string]any{}
	if mesh != "" {
		docs[SettingsMesh] = decoded(t, mesh)
	}
	if values != "" {
		docs[SettingsValues] = decoded(t, values)
	}
	return SettingsOf(docs)
}

// What differs between two revisions' settings: changed, added and removed
// paths by source and path, without what every two revisions differ in
// (their names, tags, hub, istiod address), in the sources both have.
func TestCompareSettings(t *testing.T) {
	rules := RulesOf(FlavorIstio)
	old := istioSettings(t,
		`{"defaultConfig":{"discoveryAddress":"istiod-1-30.istio-system.svc:15012","holdApplicationUntilProxyStarts":true},"accessLogFile":"/dev/stdout"}`,
		`{"revision":"1-30","global":{"hub":"registry.local/istio","tag":"1.30.0","proxy":{"resources":{"limits":{"cpu":"2"}}}}}`)
	cur := istioSettings(t,
		`{"defaultConfig":{"discoveryAddress":"istiod-1-31.istio-system.svc:15012"},"accessLogFile":"/dev/stdout","enableTracing":true}`,
		`{"revision":"1-31","global":{"hub":"docker.io/istio","tag":"1.31.0","proxy":{"resources":{"limits":{"cpu":"1"}}}}}`)
	want := &SettingsDiff{Changes: []SettingChange{
		{Source: SettingsMesh, Path: "defaultConfig.holdApplicationUntilProxyStarts", From: "true"},
		{Source: SettingsMesh, Path: "enableTracing", To: "true"},
		{Source: SettingsValues, Path: "global.proxy.resources.limits.cpu", From: `"2"`, To: `"1"`},
	}}
	if d := cmp.Diff(want, CompareSettings(old, cur, rules.RevisionSpecific)); d != "" {
		t.Errorf("differences (-want +got):\n%s", d)
	}
	if d := CompareSettings(old, old, rules.RevisionSpecific); d != nil {
		t.Errorf("a revision differs from itself: %+v", d)
	}
	// The target's mesh config was not read: nothing is said of it.
	noMesh := istioSettings(t, "", `{"revision":"1-31","global":{"proxy":{"resources":{"limits":{"cpu":"2"}}}}}`)
	if d := CompareSettings(old, noMesh, rules.RevisionSpecific); d != nil {
		t.Errorf("differences without the target's mesh config: %+v", d)
	}
}

// The plan lists the first MaxSettingChanges differences and counts the
// rest, and says when a control plane had more settings than were kept.
func TestCompareSettingsBounded(t *testing.T) {
	old, cur := map[string]any{}, map[string]any{}
	for i := range MaxSettingChanges + 3 {
		old[fmt.Sprintf("k%02d", i)] = i
		cur[fmt.Sprintf("k%02d", i)] = i + 1
	}
	d := CompareSettings(SettingsOf(map[string]any{SettingsMesh: old}), SettingsOf(map[string]any{SettingsMesh: cur}),
		RulesOf(FlavorIstio).RevisionSpecific)
	if len(d.Changes) != MaxSettingChanges || d.More != 3 || d.Changes[0].Path != "k00" || d.Incomplete {
		t.Errorf("got %d changes from %q, %d more, incomplete %v", len(d.Changes), d.Changes[0].Path, d.More, d.Incomplete)
	}
	truncated := Settings{Sources: map[string]map[string]string{SettingsMesh: {}}, LeftOut: 1}
	if d := CompareSettings(truncated, truncated, RulesOf(FlavorIstio).RevisionSpecific); d == nil || !d.Incomplete {
		t.Errorf("a truncated snapshot's comparison = %+v, want incomplete", d)
	}
}

// What each flavor expects to differ between two revisions: the list is
// short on purpose, and a setting a user made is never on it.
func TestRevisionSpecificSettings(t *testing.T) {
	tests := map[string]struct {
		flavor       Flavor
		source, path string
		want         bool
	}{
		"istio revision":                  {FlavorIstio, SettingsValues, "revision", true},
		"istio tag":                       {FlavorIstio, SettingsValues, "global.tag", true},
		"istio hub":                       {FlavorIstio, SettingsValues, "global.hub", true},
		"istiod address":                  {FlavorIstio, SettingsMesh, "defaultConfig.discoveryAddress", true},
		"proxy resources":                 {FlavorIstio, SettingsValues, "global.proxy.resources.limits.cpu", false},
		"hold until proxy starts":         {FlavorIstio, SettingsMesh, "defaultConfig.holdApplicationUntilProxyStarts", false},
		"a tag elsewhere":                 {FlavorIstio, SettingsMesh, "global.tag", false},
		"backyards version":               {FlavorBackyards, SettingsSpec, "version", true},
		"backyards proxy image":           {FlavorBackyards, SettingsSpec, "proxy.image", true},
		"backyards pilot image":           {FlavorBackyards, SettingsSpec, "pilot.image", true},
		"backyards proxy resources":       {FlavorBackyards, SettingsSpec, "proxy.resources.limits.cpu", false},
		"backyards image pull policy":     {FlavorBackyards, SettingsSpec, "imagePullPolicy", false},
		"backyards hold until proxy":      {FlavorBackyards, SettingsSpec, "proxy.holdApplicationUntilProxyStarts", false},
		"backyards source of another one": {FlavorBackyards, SettingsMesh, "version", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := RulesOf(tc.flavor).RevisionSpecific(tc.source, tc.path); got != tc.want {
				t.Errorf("RevisionSpecific(%s, %s) = %v, want %v", tc.source, tc.path, got, tc.want)
			}
		})
	}
}

// The plan carries what differs between the source's and the target's
// settings; nothing when the target is not installed.
func TestComputeSettings(t *testing.T) {
	cfg := &config.Config{
		Upgrade: Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio},
		Waves:   []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
	}
	hold := func(v string) func(*ControlPlane) {
		return func(cp *ControlPlane) {
			cp.Settings = istioSettings(t, `{"defaultConfig":{"holdApplicationUntilProxyStarts":`+v+`}}`, "")
		}
	}
	snap := cluster().
		withNamespace("shop", LabelRevision, "1-30").
		withRevision("1-30", "1.30.0", "proxyv2:1.30.0", hold("true")).
		withRevision("1-31", "1.31.0", "proxyv2:1.31.0", hold("false")).
		build()
	want := &SettingsDiff{Changes: []SettingChange{
		{Source: SettingsMesh, Path: "defaultConfig.holdApplicationUntilProxyStarts", From: "true", To: "false"}}}
	if d := cmp.Diff(want, Compute(cfg, snap).Settings); d != "" {
		t.Errorf("settings (-want +got):\n%s", d)
	}
	snap.ControlPlanes = snap.ControlPlanes[:1]
	if got := Compute(cfg, snap).Settings; got != nil {
		t.Errorf("settings without a target: %+v", got)
	}
}
