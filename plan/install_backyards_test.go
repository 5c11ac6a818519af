package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/meshwave/meshwave/plan/config"
)

// istioCR is a Backyards Istio resource of a test manifest.
func istioCR(line int, name, namespace string) config.ManifestObject {
	return manifestObject(line, "istio.banzaicloud.io/v1beta1", "Istio", namespace, name, nil,
		`{"apiVersion":"istio.banzaicloud.io/v1beta1","kind":"Istio","metadata":{"name":"`+name+`","namespace":"`+namespace+`"},"spec":{"version":"1.7.0"}}`)
}

// backyardsInstallConfig is the guide's plan with the new control plane's
// Istio resource installed first.
func backyardsInstallConfig(objs ...config.ManifestObject) *config.Config {
	cfg := backyardsConfig()
	cfg.Install = &config.InstallConfig{Manifest: "cp-v17x.yaml", Path: "cp-v17x.yaml", Objects: objs,
		ManifestRange: hcl.Range{Filename: "upgrade.mw.hcl", Start: hcl.Pos{Line: 8, Column: 14}, End: hcl.Pos{Line: 8, Column: 28}}}
	return cfg
}

// backyardsInstallSnapshot is the guide's starting point before
// `backyards install -a`: only mesh runs; cp-v17x and its injector are
// there as the provider shows the cluster the install leaves (the Istio
// resource of the manifest, the injector its operator renders), without an
// istiod yet.
func backyardsInstallSnapshot() *Snapshot {
	yes := true
	s := cluster().
		withNamespace("istio-system").
		withNamespace("demo-a", LabelInjection, "enabled").
		withNamespace("demo-b", LabelInjection, "enabled").
		withDeployment("demo-a", "app-a", podOn("app-a-1", img16, "mesh.istio-system")).
		withDeployment("demo-b", "app-b", podOn("app-b-1", img16, "mesh.istio-system")).
		withDeployment("istio-system", "istiod", Pod{Name: "istiod-1", Ready: true}).
		withBackyardsInjector("mesh.istio-system", true).
		withBackyardsInjector("cp-v17x.istio-system", false).
		withControlPlane(ControlPlane{Revision: "mesh.istio-system", Name: "mesh", Namespace: "istio-system", Version: "1.6.3", ProxyImage: img16, Default: true,
			Istiod: []Pod{{Name: "istiod-1", Ready: true}}}).
		withControlPlane(ControlPlane{Revision: "cp-v17x.istio-system", Kind: "Istio", Name: "cp-v17x", Namespace: "istio-system", Version: "1.7.0", ProxyImage: img17}).
		withGateway(MeshGateway{Name: "istio-ingressgateway", Namespace: "istio-system", ControlPlane: "mesh.istio-system", RunAsRoot: &yes,
			Ports: []GatewayPort{{Name: "http2", Port: 80, TargetPort: 8080}}, Pods: []Pod{podOn("gw-1", img16, "mesh.istio-system")}}).
		build()
	s.Install = []ManifestObjectState{{Served: true}}
	return s
}

// The guide's whole flow from a cluster with only mesh: the Istio resource
// applied and waited for, then the gateway, the waves and the uninstall.
func TestComputeBackyardsInstallsTheIstioResourceFirst(t *testing.T) {
	p := Compute(backyardsInstallConfig(istioCR(1, "cp-v17x", "istio-system")), backyardsInstallSnapshot())
	if len(p.Checks) != 0 {
		t.Fatalf("checks = %+v, want none", p.Checks)
	}
	want := []stepLine{
		{"install/cp-v17x.istio-system", ActionCreate},
		{"install/cp-v17x.istio-system/wait", ActionRead},
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
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	install, wait := p.Steps[0], p.Steps[1]
	// The install names the Istio resource, as the uninstall names mesh's;
	// its wait, the istiod the operator creates from it.
	istio := ObjectRef{Kind: "Istio", Namespace: "istio-system", Name: "cp-v17x"}
	istiod := ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-cp-v17x"}
	for _, c := range []struct {
		s    Step
		want ObjectRef
	}{{install, istio}, {wait, istiod}} {
		s := c.s
		if *s.Object != c.want || s.ToRevision != "cp-v17x.istio-system" || s.ToImage != img17 {
			t.Errorf("%s: object %+v, to %s (%s); want %+v, cp-v17x.istio-system (%s)", s.ID, *s.Object, s.ToRevision, s.ToImage, c.want, img17)
		}
	}
	wantManifest := []ManifestChange{{ObjectRef: ObjectRef{Kind: "Istio", Namespace: "istio-system", Name: "cp-v17x"},
		APIVersion: "istio.banzaicloud.io/v1beta1", Action: ActionCreate, JSON: istioCR(1, "cp-v17x", "istio-system").JSON}}
	if diff := cmp.Diff(wantManifest, install.Manifest); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if p.ToVersion != "1.7.0" {
		t.Errorf("ToVersion = %q, want the Istio resource's 1.7.0", p.ToVersion)
	}
}

// MW043: a Backyards manifest installs the revision of its Istio resource's
// name and namespace, which must be the upgrade's target.
func TestComputeBackyardsManifestRevision(t *testing.T) {
	tests := map[string]struct {
		objs []config.ManifestObject
		msg  string
		obj  *ObjectRef
		// line is the check's: the Istio resource's in the manifest, or
		// the manifest attribute's in the plan.
		line int
	}{
		"another name": {
			objs: []config.ManifestObject{istioCR(3, "cp-v18x", "istio-system")},
			msg:  `the manifest installs revision "cp-v18x.istio-system" (the name and namespace of Istio istio-system/cp-v18x), not the upgrade's target "cp-v17x.istio-system"`,
			obj:  &ObjectRef{Kind: "Istio", Namespace: "istio-system", Name: "cp-v18x"}, line: 3,
		},
		"another namespace": {
			objs: []config.ManifestObject{istioCR(3, "cp-v17x", "mesh-system")},
			msg:  `the manifest installs revision "cp-v17x.mesh-system" (the name and namespace of Istio mesh-system/cp-v17x), not the upgrade's target "cp-v17x.istio-system"`,
			obj:  &ObjectRef{Kind: "Istio", Namespace: "mesh-system", Name: "cp-v17x"}, line: 3,
		},
		"no Istio resource": {
			objs: []config.ManifestObject{manifestObject(3, "v1", "Namespace", "", "istio-system", nil, `{}`)},
			msg:  "no object of cp-v17x.yaml is an Istio resource (istio.banzaicloud.io) named cp-v17x in namespace istio-system: it does not install the target revision",
			line: 8,
		},
		"a second Istio resource": {
			objs: []config.ManifestObject{istioCR(1, "cp-v17x", "istio-system"), istioCR(3, "mesh", "istio-system")},
			msg:  `the manifest installs revision "mesh.istio-system" (the name and namespace of Istio istio-system/mesh), not the upgrade's target "cp-v17x.istio-system"`,
			obj:  &ObjectRef{Kind: "Istio", Namespace: "istio-system", Name: "mesh"}, line: 3,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			snap := backyardsInstallSnapshot()
			snap.Install = make([]ManifestObjectState, len(tc.objs))
			for i := range snap.Install {
				snap.Install[i].Served = true
			}
			p := Compute(backyardsInstallConfig(tc.objs...), snap)
			var got []Check
			for _, c := range p.Checks {
				if c.Code == CodeManifestRevision {
					got = append(got, c)
				}
			}
			if len(got) != 1 {
				t.Fatalf("MW043 checks = %+v, want one", got)
			}
			c := got[0]
			if c.Severity != SeverityError || c.Message != tc.msg {
				t.Errorf("MW043 %s %q\nwant error %q", c.Severity, c.Message, tc.msg)
			}
			if diff := cmp.Diff(tc.obj, c.Object); diff != "" {
				t.Errorf("object (-want +got):\n%s", diff)
			}
			if c.Range == nil || c.Range.Start.Line != tc.line {
				t.Errorf("range %+v, want line %d", c.Range, tc.line)
			}
			if !strings.Contains(c.Hint, "--istio-cr-file") {
				t.Errorf("hint %q does not say how to write the Istio resource", c.Hint)
			}
		})
	}
}

// Once the upgrade is applied, the plan with its install block has nothing
// left to do: the Istio resource is in the cluster as applied, mesh is gone.
func TestComputeBackyardsInstallAfterUpgradeHasNoChanges(t *testing.T) {
	snap := cluster().
		withNamespace("istio-system").
		withNamespace("demo-a", LabelRevision, "cp-v17x.istio-system").
		withNamespace("demo-b", LabelRevision, "cp-v17x.istio-system").
		withDeployment("demo-a", "app-a", podOn("app-a-2", img17, "cp-v17x.istio-system")).
		withDeployment("demo-b", "app-b", podOn("app-b-2", img17, "cp-v17x.istio-system")).
		withBackyardsInjector("cp-v17x.istio-system", false).
		withControlPlane(ControlPlane{Revision: "cp-v17x.istio-system", Kind: "Istio", Name: "cp-v17x", Namespace: "istio-system", Version: "1.7.0", ProxyImage: img17,
			Istiod: []Pod{{Name: "istiod-cp-v17x-1", Ready: true}}}).
		withGateway(MeshGateway{Name: "istio-ingressgateway", Namespace: "istio-system", ControlPlane: "cp-v17x.istio-system",
			Pods: []Pod{podOn("gw-2", img17, "cp-v17x.istio-system")}}).
		build()
	snap.Install = []ManifestObjectState{{Served: true, Exists: true, Applied: true}}
	p := Compute(backyardsInstallConfig(istioCR(1, "cp-v17x", "istio-system")), snap)
	if p.HasChanges() {
		t.Errorf("HasChanges() = true, steps %+v", stepLines(p))
	}
	if len(p.Checks) != 0 {
		t.Errorf("checks = %+v, want none", p.Checks)
	}
	if got := stepLines(p)[0]; got != (stepLine{"install/cp-v17x.istio-system", ActionNoop}) {
		t.Errorf("first step = %+v, want the install, with nothing to do", got)
	}
}
