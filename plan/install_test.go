package plan

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/meshwave/meshwave/plan/config"
)

// manifestObject is an object of a test manifest at line of 1-31.yaml.
func manifestObject(line int, apiVersion, kind, namespace, name string, labels map[string]string, json string) config.ManifestObject {
	return config.ManifestObject{APIVersion: apiVersion, Kind: kind, Namespace: namespace, Name: name, Labels: labels, JSON: []byte(json),
		Range: hcl.Range{Filename: "1-31.yaml", Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 5}}}
}

func rev(r string) map[string]string { return map[string]string{LabelRevision: r} }

const crd131 = `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"gateways.networking.istio.io","labels":{"app.kubernetes.io/version":"1.31.0"}},"spec":{"versions":[{"name":"v1","served":true},{"name":"v1beta1","served":true}]}}`

// installConfig is a plan that installs 1-31 from objs, moves shop and
// uninstalls 1-30.
func installConfig(objs ...config.ManifestObject) *config.Config {
	return &config.Config{
		Upgrade:  Upgrade{From: "1-30", To: "1-31", Flavor: FlavorIstio},
		Install:  &config.InstallConfig{Manifest: "1-31.yaml", Path: "1-31.yaml", Objects: objs},
		Waves:    []config.WaveConfig{{Name: "all", Namespaces: []string{"shop"}, MaxParallel: 1, Timeout: time.Minute}},
		Finalize: config.FinalizeConfig{UninstallOld: true},
	}
}

// installCluster has 1-30 serving shop and, as the provider shows it, the
// 1-31 control plane of the manifest (not running yet).
func installCluster(states ...ManifestObjectState) *Snapshot {
	s := cluster().
		withNamespace("shop", LabelRevision, "1-30").
		withDeployment("shop", "web", podOn("web-1", "istio/proxyv2:1.30.1", "1-30")).
		withRevision("1-30", "1.30.1", "istio/proxyv2:1.30.1").
		withRevision("1-31", "1.31.0", "istio/proxyv2:1.31.0", func(cp *ControlPlane) { cp.Istiod = nil }).
		build()
	s.Install = states
	return s
}

func TestComputeInstallsTheTargetFirstAndRollsItBackLast(t *testing.T) {
	cfg := installConfig(
		manifestObject(1, "v1", "ServiceAccount", "istio-system", "istiod-1-31", rev("1-31"), `{}`),
		manifestObject(9, "apps/v1", "Deployment", "istio-system", "istiod-1-31", rev("1-31"), `{}`),
		manifestObject(40, "apiextensions.k8s.io/v1", KindCRD, "", "gateways.networking.istio.io", nil, crd131),
		manifestObject(80, "v1", "ServiceAccount", "istio-system", "istio-reader-service-account", nil, `{}`),
	)
	p := Compute(cfg, installCluster(
		ManifestObjectState{Served: true},
		ManifestObjectState{Served: true},
		ManifestObjectState{Served: true, Exists: true, CRD: &CRDVersions{Release: "1.30.1", Served: []string{"v1", "v1beta1"}, Stored: []string{"v1"}},
			Changes: []FieldChange{{Path: "metadata.labels.app.kubernetes.io/version", From: `"1.30.1"`, To: `"1.31.0"`}}},
		ManifestObjectState{Served: true, Exists: true},
	))
	if len(p.Checks) != 0 {
		t.Fatalf("checks = %+v, want none", p.Checks)
	}
	want := []stepLine{
		{"install/1-31", ActionCreate},
		{"install/1-31/wait", ActionRead},
		{"wave/all/relabel/shop", ActionUpdate},
		{"wave/all/restart/shop/deployment/web", ActionRestart},
		{"wave/all/wait", ActionRead},
		{"wave/all/verify", ActionRead},
		{"finalize/uninstall/1-30", ActionDelete},
	}
	if diff := cmp.Diff(want, stepLines(p)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if p.Phases[0].Kind != PhaseInstall || !slices.Equal(p.Phases[0].StepIDs(), []string{"install/1-31", "install/1-31/wait"}) {
		t.Errorf("first phase = %+v, want the install and its wait", p.Phases[0])
	}
	last := p.RollbackOrder[len(p.RollbackOrder)-1]
	if last.Kind != PhaseInstall || !slices.Equal(last.Groups[0], []string{"install/1-31"}) {
		t.Errorf("rollback order ends with %+v, want the install", last)
	}
	var actions []Action
	for _, o := range p.Steps[0].Manifest {
		actions = append(actions, o.Action)
	}
	if diff := cmp.Diff([]Action{ActionCreate, ActionCreate, ActionUpdate, ActionNoop}, actions); diff != "" {
		t.Errorf("manifest actions (-want +got):\n%s", diff)
	}
	if !p.Steps[0].Manifest[2].Shared {
		t.Error("the CRD is not marked shared by both revisions")
	}
	if p.Summary.Install != 3 {
		t.Errorf("Summary.Install = %d, want 3", p.Summary.Install)
	}
}

func TestComputeInstallChecks(t *testing.T) {
	sa := manifestObject(1, "v1", "ServiceAccount", "istio-system", "istiod-1-31", rev("1-31"), `{}`)
	tests := map[string]struct {
		objs   []config.ManifestObject
		states []ManifestObjectState
		code   string
		line   int
		msg    string
	}{
		"a manifest for another revision": {
			objs:   []config.ManifestObject{manifestObject(3, "apps/v1", "Deployment", "istio-system", "istiod-1-29", rev("1-29"), `{}`)},
			states: []ManifestObjectState{{Served: true}},
			code:   CodeManifestRevision, line: 3,
			msg: `the manifest installs revision "1-29" (label istio.io/rev of Deployment istio-system/istiod-1-29), not the upgrade's target "1-31"`,
		},
		"a change of the old revision's webhook": {
			objs: []config.ManifestObject{sa, manifestObject(12, "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "", "istio-sidecar-injector-1-30", rev("1-31"), `{}`)},
			states: []ManifestObjectState{{Served: true}, {Served: true, Exists: true, Labels: rev("1-30"),
				Changes: []FieldChange{{Path: "metadata.labels.istio.io/rev", From: `"1-30"`, To: `"1-31"`}}}},
			code: CodeInstallChangesOther, line: 12,
			msg: "the install would change this object of revision 1-30 (changes metadata.labels.istio.io/rev): an install must leave the old revision's objects as they are",
		},
		"a CRD downgrade": {
			objs: []config.ManifestObject{sa, manifestObject(20, "apiextensions.k8s.io/v1", KindCRD, "", "gateways.networking.istio.io", nil, crd131)},
			states: []ManifestObjectState{{Served: true}, {Served: true, Exists: true, CRD: &CRDVersions{Release: "1.32.0", Served: []string{"v1"}},
				Changes: []FieldChange{{Path: "spec"}}}},
			code: CodeCRDDowngrade, line: 20,
			msg: "the install would downgrade this CRD: the manifest's CRD is of Istio 1.31.0, the cluster's of Istio 1.32.0",
		},
		"a CRD that stops serving a stored version": {
			objs: []config.ManifestObject{sa, manifestObject(20, "apiextensions.k8s.io/v1", KindCRD, "", "gateways.networking.istio.io", nil, crd131)},
			states: []ManifestObjectState{{Served: true}, {Served: true, Exists: true, CRD: &CRDVersions{Served: []string{"v1"}, Stored: []string{"v1alpha3", "v1"}},
				Changes: []FieldChange{{Path: "spec"}}}},
			code: CodeCRDDowngrade, line: 20,
			msg: "the install would downgrade this CRD: the manifest's CRD no longer serves v1alpha3, which the cluster's serves or stores objects in (served: v1; stored: v1alpha3, v1)",
		},
		"a CRD downgrade the API server refuses too": {
			objs: []config.ManifestObject{sa, manifestObject(20, "apiextensions.k8s.io/v1", KindCRD, "", "gateways.networking.istio.io", nil, crd131)},
			states: []ManifestObjectState{{Served: true}, {Served: true, Exists: true, CRD: &CRDVersions{Served: []string{"v1"}, Stored: []string{"v1alpha3"}},
				Refused: "status.storedVersions[0]: Invalid value: \"v1alpha3\": must appear in spec.versions"}},
			code: CodeCRDDowngrade, line: 20,
			msg: "the install would downgrade this CRD: the manifest's CRD no longer serves v1alpha3, which the cluster's serves or stores objects in (served: v1; stored: v1alpha3)",
		},
		"an unknown kind": {
			objs:   []config.ManifestObject{sa, manifestObject(30, "example.com/v1", "Widget", "istio-system", "w", nil, `{}`)},
			states: []ManifestObjectState{{Served: true}, {}},
			code:   CodeManifestUnknownKind, line: 30,
			msg: "the cluster serves no kind Widget in example.com/v1, and no CRD of the manifest defines it",
		},
		"a refused object": {
			objs:   []config.ManifestObject{sa, manifestObject(30, "v1", "Service", "istio-system", "istiod-1-31", rev("1-31"), `{}`)},
			states: []ManifestObjectState{{Served: true}, {Served: true, Refused: `Service "istiod-1-31" is invalid: spec.ports: Required value`}},
			code:   CodeManifestRefused, line: 30,
			msg: `the API server refused a dry-run apply of it: Service "istiod-1-31" is invalid: spec.ports: Required value`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := Compute(installConfig(tc.objs...), installCluster(tc.states...))
			var got []Check
			for _, c := range p.Checks {
				if c.Severity == SeverityError {
					got = append(got, c)
				}
			}
			if len(got) != 1 {
				t.Fatalf("errors = %+v, want one %s", got, tc.code)
			}
			c := got[0]
			if c.Code != tc.code || c.Range == nil || c.Range.Filename != "1-31.yaml" || c.Range.Start.Line != tc.line || c.Message != tc.msg {
				t.Errorf("got %s at %v: %s\nwant %s at 1-31.yaml:%d: %s", c.Code, c.Range, c.Message, tc.code, tc.line, tc.msg)
			}
		})
	}
}

// The default tag's validator is shared by the revisions: an install may
// change it (the plan shows how), a CRD likewise.
func TestComputeInstallMayChangeSharedObjects(t *testing.T) {
	validator := manifestObject(5, "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "istiod-default-validator", rev("1-31"), `{}`)
	p := Compute(installConfig(manifestObject(1, "v1", "ServiceAccount", "istio-system", "istiod-1-31", rev("1-31"), `{}`), validator),
		installCluster(ManifestObjectState{Served: true}, ManifestObjectState{Served: true, Exists: true,
			Labels:  map[string]string{LabelRevision: "1-30", LabelTag: "default"},
			Changes: []FieldChange{{Path: "metadata.labels.istio.io/rev", From: `"1-30"`, To: `"1-31"`}}}))
	for _, c := range p.Checks {
		if c.Severity == SeverityError {
			t.Errorf("unexpected error %s: %s", c.Code, c.Message)
		}
	}
	if o := p.Steps[0].Manifest[1]; !o.Shared || o.Action != ActionUpdate {
		t.Errorf("validator = %+v, want a shared update", o)
	}
}

// A manifest applied already (every object carries meshwave's hash of it)
// makes the install a no-op, whatever istiod changed in its webhooks since.
func TestComputeInstallAppliedIsNoop(t *testing.T) {
	p := Compute(installConfig(manifestObject(1, "v1", "ServiceAccount", "istio-system", "istiod-1-31", rev("1-31"), `{}`)),
		installCluster(ManifestObjectState{Served: true, Exists: true, Applied: true, Labels: rev("1-31"),
			Changes: []FieldChange{{Path: "webhooks[0].failurePolicy"}}}))
	if st := p.Steps[0]; st.Action != ActionNoop || st.Manifest[0].Action != ActionNoop {
		t.Errorf("install = %+v, want a no-op", st)
	}
}

// A saved plan holds the manifest's objects indented; apply marks them
// with the same hash as a fresh plan does.
func TestManifestHashIgnoresLayout(t *testing.T) {
	compact := ManifestHash([]byte(`{"a":{"b":"<c>"}}`))
	if got := ManifestHash([]byte("{\n  \"a\": {\n    \"b\": \"<c>\"\n  }\n}")); got != compact {
		t.Errorf("indented hash %s, compact %s", got, compact)
	}
	if ManifestHash([]byte(`{"a":{"b":"d"}}`)) == compact {
		t.Error("another object has the same hash")
	}
}
