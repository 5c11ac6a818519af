package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

const (
	rev16 = "mesh.istio-system"
	rev17 = "cp-v17x.istio-system"
	img17 = "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"
)

// istioResource is a Backyards Istio resource; status, when set, is its
// status.Status.
func istioResource(name, version, image, status string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "istio.banzaicloud.io/v1beta1", "kind": "Istio",
		"metadata": map[string]any{"name": name, "namespace": "istio-system"},
		"spec":     map[string]any{"version": version, "proxy": map[string]any{"image": image}},
	}}
	if status != "" {
		u.Object["status"] = map[string]any{"Status": status, "ErrorMessage": ""}
	}
	return u
}

// cp17Manifest is the manifest of cp-v17x: its Istio resource.
func cp17Manifest(t *testing.T) []config.ManifestObject {
	t.Helper()
	j, err := istioResource("cp-v17x", "1.7.0", img17, "").MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return []config.ManifestObject{{APIVersion: "istio.banzaicloud.io/v1beta1", Kind: "Istio", Namespace: "istio-system", Name: "cp-v17x", JSON: j}}
}

// The plan of a Backyards install sees the cluster the operator will leave:
// the new control plane from the manifest's Istio resource and the
// injector the operator renders for it, once.
func TestBackyardsSnapshotShowsTheControlPlaneItsIstioResourceInstalls(t *testing.T) {
	live := func() *clusterObjects {
		mesh := istioResource("mesh", "1.6.3", "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc", "Available")
		mesh.SetUID("uid-mesh")
		return &clusterObjects{
			crs:      map[schema.GroupVersionResource][]unstructured.Unstructured{gvrIstio: {*mesh}},
			mutating: []admissionregistrationv1.MutatingWebhookConfiguration{backyardsInjector("mesh", "istio-system")},
		}
	}
	cfg := &config.Config{Upgrade: config.Upgrade{From: rev16, To: rev17, Flavor: plan.FlavorBackyards}, Install: &config.InstallConfig{Objects: cp17Manifest(t)}}
	type cpLine struct{ Revision, Kind, Version, ProxyImage string }
	wantCPs := []cpLine{{rev17, "Istio", "1.7.0", img17}, {rev16, "Istio", "1.6.3", "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc"}}
	injectorsOf := func(s *plan.Snapshot) []string {
		var out []string
		for _, w := range s.Webhooks {
			out = append(out, w.Revision+" "+w.Name)
		}
		return out
	}

	o := live()
	snap := snapshotOf(backyards{}, cfg, backyards{}.asInstalled(o, cfg.Install.Objects))
	var cps []cpLine
	for _, cp := range snap.ControlPlanes {
		cps = append(cps, cpLine{cp.Revision, cp.Kind, cp.Version, cp.ProxyImage})
	}
	if diff := cmp.Diff(wantCPs, cps); diff != "" {
		t.Errorf("control planes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{rev17 + " istio-sidecar-injector-cp-v17x-istio-system", rev16 + " istio-sidecar-injector-mesh-istio-system"}, injectorsOf(snap)); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	// The injector selects namespaces labeled for the new revision.
	injections := plan.PodInjections(snap.Webhooks, plan.InjectorsOf(snap.ControlPlanes), "demo-a", map[string]string{plan.LabelRevision: rev17}, nil, nil)
	if plan.InjectedBy(injections) != rev17 {
		t.Errorf("a pod of a namespace labeled %s is injected by %+v", rev17, injections)
	}
	if len(o.crs[gvrIstio]) != 1 || len(o.mutating) != 1 {
		t.Error("asInstalled changed the objects it was given")
	}

	// Once the operator made the injector, it is not added again.
	o = live()
	o.crs[gvrIstio] = append(o.crs[gvrIstio], *istioResource("cp-v17x", "1.7.0", img17, "Available"))
	o.mutating = append(o.mutating, backyardsInjector("cp-v17x", "istio-system"))
	snap = snapshotOf(backyards{}, cfg, backyards{}.asInstalled(o, cfg.Install.Objects))
	if len(snap.ControlPlanes) != 2 || len(snap.Webhooks) != 2 {
		t.Errorf("after the install: %d control planes, webhooks %v; want 2 and 2", len(snap.ControlPlanes), injectorsOf(snap))
	}
}

// The install wait of a Backyards control plane: the Istio resource
// Available, the operator's injector there, istiod Ready, and a dry-run pod
// of a namespace labeled for the revision injected by it.
func TestBackyardsInstallWait(t *testing.T) {
	step := plan.Step{ID: "install/" + rev17 + "/wait", Kind: plan.StepInstallWait, Action: plan.ActionRead, ToRevision: rev17, ToImage: img17,
		Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-cp-v17x"}, TimeoutSecond: 1}
	injector := backyardsInjector("cp-v17x", "istio-system")
	tests := map[string]struct {
		status    string
		injector  bool
		labeledNS bool
		rev, img  string // what the dry-run pod is injected with
		want      string // in the error; "" for none
		progress  string // in the last progress line
	}{
		"available, probed where a namespace selects it": {status: "Available", injector: true, labeledNS: true, rev: rev17, img: img17,
			progress: "a dry-run pod in namespace backyards-system is injected by " + rev17},
		"available, no namespace selects it yet": {status: "Available", injector: true,
			progress: "no namespace selects " + rev17 + " yet"},
		"still reconciling": {status: "Reconciling", injector: true, labeledNS: true, rev: rev17, img: img17,
			want: "Istio istio-system/cp-v17x is Reconciling"},
		"never reconciled": {injector: true, want: "Istio istio-system/cp-v17x is not reconciled yet"},
		"no injector":      {status: "Available", want: "no injection webhook labeled istio.io/rev=" + rev17},
		"injected by the old revision": {status: "Available", injector: true, labeledNS: true, rev: rev16, img: "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc",
			want: `was injected by revision "mesh.istio-system"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			typed := []runtime.Object{namespace("istio-system", nil), readyDeployment("istio-system", "istiod-cp-v17x", nil)}
			if tc.injector {
				typed = append(typed, &injector)
			}
			if tc.labeledNS {
				typed = append(typed, namespace("backyards-system", map[string]string{plan.LabelRevision: rev17}))
			}
			c := newCluster(t, typed, []runtime.Object{istioResource("cp-v17x", "1.7.0", img17, tc.status)})
			c.injectAs(tc.rev, tc.img)
			p := c.provider(t, plan.FlavorBackyards)
			var lines []string
			err := p.Run(context.Background(), step, plan.Record{}, func(s string) { lines = append(lines, s) })
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Run: %v, want an error saying %q", err, tc.want)
			}
			if tc.progress != "" && (len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], tc.progress)) {
				t.Errorf("progress %q, want it to end with a line starting %q", lines, tc.progress)
			}
			if tc.want == "" {
				if err := p.Verify(context.Background(), step, plan.Record{}); err != nil {
					t.Errorf("Verify: %v", err)
				}
			}
		})
	}
}

// The rollback of a Backyards install deletes the Istio resource it
// created; the operator uninstalls the rest.
func TestBackyardsInstallRollbackDeletesTheIstioResource(t *testing.T) {
	c := newCluster(t, nil, []runtime.Object{istioResource("cp-v17x", "1.7.0", img17, "Available")})
	c.cs.Resources = []*metav1.APIResourceList{{GroupVersion: gvrIstio.GroupVersion().String(),
		APIResources: []metav1.APIResource{{Name: gvrIstio.Resource, Namespaced: true, Kind: "Istio"}}}}
	p := c.provider(t, plan.FlavorBackyards)
	rec, err := plan.InstallRecord([]plan.InstalledRef{{APIVersion: "istio.banzaicloud.io/v1beta1", Kind: "Istio", Namespace: "istio-system", Name: "cp-v17x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	step := plan.Step{ID: "install/" + rev17, Kind: plan.StepInstall, Action: plan.ActionCreate, ToRevision: rev17,
		Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-cp-v17x"}}
	if err := p.Rollback(context.Background(), step, rec, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.dyn.Resource(gvrIstio).Namespace("istio-system").Get(context.Background(), "cp-v17x", metav1.GetOptions{}); err == nil {
		t.Error("the Istio resource the install created is still there")
	}
}
