package kube

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// manifestJSON is a YAML object as a manifest's JSON.
func manifestJSON(t *testing.T, y string) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

const injector131 = `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: istio-sidecar-injector-1-31
  labels: {istio.io/rev: "1-31", app: sidecar-injector}
webhooks:
- name: rev.namespace.sidecar-injector.istio.io
  clientConfig:
    service: {name: istiod-1-31, namespace: istio-system, path: /inject}
    caBundle: ""
  namespaceSelector:
    matchExpressions:
    - {key: istio.io/rev, operator: In, values: ["1-31"]}
    - {key: istio-injection, operator: DoesNotExist}
  sideEffects: None
  admissionReviewVersions: [v1]
- name: rev.object.sidecar-injector.istio.io
  clientConfig:
    service: {name: istiod-1-31, namespace: istio-system, path: /inject}
    caBundle: Zm9v
  sideEffects: None
  admissionReviewVersions: [v1]
`

const istiod131 = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod-1-31
  namespace: istio-system
  labels: {app: istiod, istio.io/rev: "1-31"}
spec:
  selector: {matchLabels: {app: istiod, istio.io/rev: "1-31"}}
  template:
    metadata:
      labels: {app: istiod, istio.io/rev: "1-31"}
    spec:
      containers:
      - name: discovery
        image: docker.io/istio/pilot:1.31.0
`

func TestApplyBodyMarksTheObjectAndLeavesCABundleToIstiod(t *testing.T) {
	j := manifestJSON(t, injector131)
	u, err := applyBody(j)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.GetAnnotations()[plan.AnnotationApplied]; got != plan.ManifestHash(j) {
		t.Errorf("annotation = %q, want the manifest object's hash", got)
	}
	hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
	var bundles []any
	for _, h := range hooks {
		cc := h.(map[string]any)["clientConfig"].(map[string]any)
		bundles = append(bundles, cc["caBundle"])
	}
	if diff := cmp.Diff([]any{nil, "Zm9v"}, bundles); diff != "" {
		t.Errorf("caBundles (-want +got):\n%s", diff)
	}
	if !appliedAlready(u, j) || appliedAlready(u, manifestJSON(t, istiod131)) {
		t.Error("appliedAlready does not tell the object applied from another")
	}
}

func TestFieldChangesLeaveOutWhatTheServerSets(t *testing.T) {
	live := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "istio-1-31", "resourceVersion": "7", "uid": "u",
			"managedFields": []any{map[string]any{"manager": "istioctl"}}, "labels": map[string]any{"a": "1", "gone": "x"}},
		"data": map[string]any{"mesh": "a: b"},
	}
	dry := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "istio-1-31", "resourceVersion": "8", "uid": "u",
			"annotations":   map[string]any{plan.AnnotationApplied: "h"},
			"managedFields": []any{map[string]any{"manager": "meshwave"}}, "labels": map[string]any{"a": "2"}},
		"data":   map[string]any{"mesh": "a: b", "values": `{"x":1}`},
		"status": map[string]any{"x": int64(1)},
	}
	want := []plan.FieldChange{
		{Path: "data.values", To: `"{\"x\":1}"`},
		{Path: "metadata.labels.a", From: `"1"`, To: `"2"`},
		{Path: "metadata.labels.gone", From: `"x"`},
	}
	if diff := cmp.Diff(want, fieldChanges(live, dry)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if got := fieldChanges(live, live); len(got) != 0 {
		t.Errorf("changes of an object against itself = %v", got)
	}
}

func TestCRDVersionsAndTheDowngradeRule(t *testing.T) {
	live := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "gateways.networking.istio.io", "labels": map[string]any{plan.LabelReleaseVersion: "1.30.1"}},
		"spec": map[string]any{"versions": []any{
			map[string]any{"name": "v1", "served": true}, map[string]any{"name": "v1alpha3", "served": true}, map[string]any{"name": "v1beta0", "served": false}}},
		"status": map[string]any{"storedVersions": []any{"v1alpha3"}},
	}}
	v := crdVersions(live)
	if diff := cmp.Diff(&plan.CRDVersions{Release: "1.30.1", Served: []string{"v1", "v1alpha3"}, Stored: []string{"v1alpha3"}}, v); diff != "" {
		t.Fatalf("versions (-want +got):\n%s", diff)
	}
	newer := `{"metadata":{"labels":{"app.kubernetes.io/version":"1.31.0"}},"spec":{"versions":[{"name":"v1","served":true},{"name":"v1alpha3","served":true}]}}`
	if why := plan.CRDDowngrade([]byte(newer), *v); why != "" {
		t.Errorf("1.31 over 1.30: %s", why)
	}
	older := `{"metadata":{"labels":{"app.kubernetes.io/version":"1.29.0"}},"spec":{"versions":[{"name":"v1","served":true},{"name":"v1alpha3","served":true}]}}`
	if why := plan.CRDDowngrade([]byte(older), *v); !strings.Contains(why, "1.29.0") {
		t.Errorf("1.29 over 1.30: %q, want a downgrade", why)
	}
}

// The plan is computed against the cluster as the install leaves it: the
// manifest's istiod and injector make the new revision's control plane.
func TestSnapshotShowsTheControlPlaneTheManifestInstalls(t *testing.T) {
	objs := []config.ManifestObject{
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "istio-system", Name: "istiod-1-31", JSON: manifestJSON(t, istiod131)},
		{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration", Name: "istio-sidecar-injector-1-31", JSON: manifestJSON(t, injector131)},
	}
	cfg := &config.Config{Upgrade: config.Upgrade{From: "1-30", To: "1-31", Flavor: plan.FlavorIstio}, Install: &config.InstallConfig{Objects: objs}}
	snap := snapshotOf(upstreamIstio{}, cfg, withManifest(&clusterObjects{}, objs))
	var revs []string
	for _, cp := range snap.ControlPlanes {
		revs = append(revs, cp.Revision+" "+cp.Namespace+"/"+cp.Name+" "+cp.Version)
	}
	if diff := cmp.Diff([]string{"1-31 istio-system/istiod-1-31 1.31.0"}, revs); diff != "" {
		t.Errorf("control planes (-want +got):\n%s", diff)
	}
	if len(snap.Webhooks) != 1 || snap.Webhooks[0].Revision != "1-31" {
		t.Errorf("webhooks = %+v, want the new injector", snap.Webhooks)
	}
}

var (
	gvrServiceAccount = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	gvrConfigMap      = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// installCluster serves ServiceAccounts and ConfigMaps through discovery
// and answers server-side applies as an API server would store them.
func installCluster(t *testing.T, objs ...runtime.Object) (*cluster, *int) {
	t.Helper()
	c := newCluster(t, nil, nil)
	c.cs.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "serviceaccounts", Namespaced: true, Kind: "ServiceAccount"},
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap"},
	}}}
	for _, o := range objs {
		u := o.(*unstructured.Unstructured)
		gvr := gvrConfigMap
		if u.GetKind() == "ServiceAccount" {
			gvr = gvrServiceAccount
		}
		if err := c.dyn.Tracker().Create(gvr, u, u.GetNamespace()); err != nil {
			t.Fatal(err)
		}
	}
	applies := 0
	c.dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pa := a.(k8stesting.PatchAction)
		if pa.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		applies++
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(pa.GetPatch(), &u.Object); err != nil {
			return true, nil, err
		}
		tr := c.dyn.Tracker()
		if _, err := tr.Get(pa.GetResource(), pa.GetNamespace(), pa.GetName()); err == nil {
			return true, u, tr.Update(pa.GetResource(), u, pa.GetNamespace())
		}
		return true, u, tr.Create(pa.GetResource(), u, pa.GetNamespace())
	})
	return c, &applies
}

func object(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(manifestJSON(t, y)); err != nil {
		t.Fatal(err)
	}
	return u
}

// An install records what it creates and what it changes before it sends
// anything, sends each object once across a resumed run, and its rollback
// deletes what it created and puts back what it changed.
func TestInstallStepRecordsResumesAndRollsBack(t *testing.T) {
	const sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: istiod-1-31\n  namespace: istio-system\n  labels: {istio.io/rev: \"1-31\"}\n"
	const reader = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-shared\n  namespace: istio-system\ndata: {release: \"1.31.0\"}\n"
	c, applies := installCluster(t, object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-shared\n  namespace: istio-system\n  resourceVersion: \"3\"\ndata: {release: \"1.30.1\"}\n"))
	p := c.provider(t, plan.FlavorIstio)
	step := plan.Step{ID: "install/1-31", Kind: plan.StepInstall, Action: plan.ActionCreate, Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-1-31"},
		Manifest: []plan.ManifestChange{
			{ObjectRef: plan.ObjectRef{Kind: "ServiceAccount", Namespace: "istio-system", Name: "istiod-1-31"}, APIVersion: "v1", Action: plan.ActionCreate, JSON: manifestJSON(t, sa)},
			{ObjectRef: plan.ObjectRef{Kind: "ConfigMap", Namespace: "istio-system", Name: "istio-shared"}, APIVersion: "v1", Action: plan.ActionUpdate, JSON: manifestJSON(t, reader)},
		}}
	ctx := context.Background()
	rec, err := p.Prepare(ctx, step)
	if err != nil {
		t.Fatal(err)
	}
	created, _ := plan.Record(rec).InstallCreated()
	previous, _ := plan.Record(rec).InstallPrevious()
	if diff := cmp.Diff([]plan.InstalledRef{{APIVersion: "v1", Kind: "ServiceAccount", Namespace: "istio-system", Name: "istiod-1-31"}}, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if len(previous) != 1 || !strings.Contains(string(previous[0]), `"release":"1.30.1"`) || strings.Contains(string(previous[0]), "resourceVersion") {
		t.Errorf("previous = %s, want the ConfigMap as it was, without its resourceVersion", previous)
	}

	if err := p.Run(ctx, step, rec, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx, step, rec, nil); err != nil { // resumed: nothing is sent again
		t.Fatal(err)
	}
	if *applies != 2 {
		t.Errorf("%d applies, want 2: one per object, none on the resumed run", *applies)
	}
	if err := p.Verify(ctx, step, rec); err != nil {
		t.Errorf("Verify after the install: %v", err)
	}

	if err := p.Rollback(ctx, step, rec, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.dyn.Resource(gvrServiceAccount).Namespace("istio-system").Get(ctx, "istiod-1-31", metav1.GetOptions{}); err == nil {
		t.Error("the ServiceAccount the install created is still there")
	}
	cm, err := c.dyn.Resource(gvrConfigMap).Namespace("istio-system").Get(ctx, "istio-shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(cm.Object, "data", "release"); got != "1.30.1" || cm.GetAnnotations()[plan.AnnotationApplied] != "" {
		t.Errorf("restored ConfigMap: release %q, annotations %v; want 1.30.1 and no meshwave annotation", got, cm.GetAnnotations())
	}
	if err := p.Verify(ctx, step, rec); err == nil {
		t.Error("Verify after the rollback passed")
	}
}

// injectAs answers every dry-run pod as revision rev's injector would:
// with its proxy and its sidecar.istio.io/status; with no image, as no
// injector would.
func (c *cluster) injectAs(rev, image string) {
	c.cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(k8stesting.CreateActionImpl)
		if !ok || len(ca.CreateOptions.DryRun) == 0 {
			return false, nil, nil
		}
		pod := ca.Object.(*corev1.Pod).DeepCopy()
		if image != "" {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: proxyContainer, Image: image})
			pod.Annotations = map[string]string{plan.AnnotationSidecarStatus: `{"revision":"` + rev + `"}`}
		}
		return true, pod, nil
	})
}

func TestInstallWaitNeedsTheNewInjector(t *testing.T) {
	step := plan.Step{ID: "install/1-31/wait", Kind: plan.StepInstallWait, Action: plan.ActionRead, ToRevision: "1-31",
		ToImage: "docker.io/istio/proxyv2:1.31.0", Object: &plan.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-1-31"},
		TimeoutSecond: 1}
	tests := map[string]struct {
		rev, image string
		want       string
	}{
		"injected by the new revision": {"1-31", "docker.io/istio/proxyv2:1.31.0", ""},
		"injected by the old one":      {"1-30", "docker.io/istio/proxyv2:1.30.0", `was injected by revision "1-30", not 1-31`},
		"not injected":                 {"", "", "got no istio-proxy container"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, []runtime.Object{namespace("istio-system", nil), readyDeployment("istio-system", "istiod-1-31", nil)}, nil)
			c.injectAs(tc.rev, tc.image)
			p := c.provider(t, plan.FlavorIstio)
			err := p.Run(context.Background(), step, plan.Record{}, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Run: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
