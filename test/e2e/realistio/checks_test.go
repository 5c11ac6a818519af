package realistio_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/meshwave/meshwave/test/e2e/harness"
	"github.com/meshwave/meshwave/test/istiofix"
	"github.com/meshwave/meshwave/test/testenv"
)

// planChecks is what these cases read of plan -json.
type planChecks struct {
	Checks []struct {
		Code, Severity, Message string
		Object                  struct{ Kind, Namespace, Name string }
	} `json:"checks"`
	Steps []struct{ ID string } `json:"steps"`
}

func (p planChecks) has(code, severity, kind, ns, name string) bool {
	for _, c := range p.Checks {
		if c.Code == code && c.Severity == severity && c.Object.Kind == kind && c.Object.Namespace == ns && c.Object.Name == name {
			return true
		}
	}
	return false
}

func (p planChecks) step(id string) bool {
	return slices.ContainsFunc(p.Steps, func(s struct{ ID string }) bool { return s.ID == id })
}

// missingTemplateIsReported runs a Deployment whose pod template asks for
// the real grpc-simple injection template next to the sidecar one, injected
// by 1-30, and removes grpc-simple from the real 1-31 injector's templates
// (its istio-sidecar-injector-1-31 ConfigMap, which istiod reads): a
// restart onto 1-31 could not inject it, so the plan refuses with MW032
// naming the Deployment and the template. The ConfigMap is then restored
// and the Deployment deleted.
func missingTemplateIsReported(ctx context.Context, t *testing.T, env *testenv.Cluster, mesh *istiofix.Mesh, dir string) {
	t.Helper()
	custom := istiofix.App{Namespace: "shop", Name: "grpc", Replicas: 1}
	if err := mesh.CreateWithTemplates(ctx, custom, "sidecar,grpc-simple"); err != nil {
		t.Fatal(err)
	}
	defer deleteApp(ctx, t, env, custom)
	if err := mesh.WaitInjected(ctx, custom, rev30, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	restore := withoutTemplate(ctx, t, env, "istio-sidecar-injector-"+rev31.Name, "grpc-simple")
	p, r := harness.PlanJSON[planChecks](t, env, dir)
	restore()
	if !p.has("MW032", "error", "Deployment", "shop", "grpc") || r.Code != 1 {
		t.Errorf("grpc-simple missing from 1-31's templates: exit %d, checks %+v; want exit 1 and MW032 error on Deployment shop/grpc", r.Code, p.Checks)
	}
	for _, c := range p.Checks {
		if c.Code == "MW032" && !strings.Contains(c.Message, "grpc-simple") {
			t.Errorf("MW032 %q does not name the template grpc-simple", c.Message)
		}
	}
}

// withoutTemplate removes one template from the injection templates of the
// ConfigMap name (its config key, as istioctl renders it) and returns what
// puts it back.
func withoutTemplate(ctx context.Context, t *testing.T, env *testenv.Cluster, name, template string) func() {
	t.Helper()
	return editConfigMapYAML(ctx, t, env, name, "config", func(cfg map[string]any) {
		templates, _ := cfg["templates"].(map[string]any)
		if _, ok := templates[template]; !ok {
			t.Fatalf("ConfigMap %s has no template %s to remove", name, template)
		}
		delete(templates, template)
	})
}

// editConfigMapYAML changes the YAML document under key of the istio-system
// ConfigMap name with edit, and returns what puts the document back.
func editConfigMapYAML(ctx context.Context, t *testing.T, env *testenv.Cluster, name, key string, edit func(map[string]any)) func() {
	t.Helper()
	cms := env.Client.CoreV1().ConfigMaps("istio-system")
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orig := cm.Data[key]
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(orig), &doc); err != nil {
		t.Fatalf("ConfigMap %s %s: %v", name, key, err)
	}
	edit(doc)
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	set := func(value string) {
		cm, err := cms.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[key] = value
		if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set(string(b))
	return func() { set(orig) }
}

// secondInjectorIsReported installs a second copy of 1-30's real revision
// webhook whose namespace selector picks namespaces labeled
// istio.io/rev=1-31: once the canary wave relabels shop, the API server
// would call both 1-31's injector and the copy for a new pod. A restart
// would not bring shop's workloads to 1-31 alone, so the plan warns (MW040)
// for each and does not restart them. The copy then goes.
func secondInjectorIsReported(ctx context.Context, t *testing.T, env *testenv.Cluster, dir string) {
	t.Helper()
	mwcs := env.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	orig, err := mwcs.Get(ctx, "istio-sidecar-injector-"+rev30.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cp := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "team-injector"}}
	for _, w := range orig.Webhooks {
		if w.Name != "rev.namespace.sidecar-injector.istio.io" {
			continue
		}
		w = *w.DeepCopy()
		for i, e := range w.NamespaceSelector.MatchExpressions {
			if e.Key == "istio.io/rev" {
				w.NamespaceSelector.MatchExpressions[i].Values = []string{rev31.Name}
			}
		}
		cp.Webhooks = append(cp.Webhooks, w)
	}
	if len(cp.Webhooks) != 1 {
		t.Fatalf("1-30's injector has %d rev.namespace webhooks, want 1", len(cp.Webhooks))
	}
	if _, err := mwcs.Create(ctx, cp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, r := harness.PlanJSON[planChecks](t, env, dir)
	if err := mwcs.Delete(ctx, cp.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"web", "cart", "native"} {
		if !p.has("MW040", "warning", "Deployment", "shop", a) {
			t.Errorf("with team-injector selecting istio.io/rev=1-31: no MW040 warning on Deployment shop/%s; exit %d, checks %+v", a, r.Code, p.Checks)
		}
		if id := "wave/canary/restart/shop/deployment/" + a; p.step(id) {
			t.Errorf("step %s planned, though its next pod would not be injected by 1-31 alone", id)
		}
	}
	for _, c := range p.Checks {
		if c.Code == "MW040" && !strings.Contains(c.Message, "team-injector") {
			t.Errorf("MW040 %q does not name team-injector", c.Message)
		}
	}
}

// deleteApp deletes app a's Deployment and waits until its pods are gone.
func deleteApp(ctx context.Context, t *testing.T, env *testenv.Cluster, a istiofix.App) {
	t.Helper()
	fg := metav1.DeletePropagationForeground
	if err := env.Client.AppsV1().Deployments(a.Namespace).Delete(ctx, a.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := env.Client.CoreV1().Pods(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + a.Name})
		if err != nil {
			return false, nil
		}
		_, derr := env.Client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		return len(pods.Items) == 0 && derr != nil, nil
	})
	if err != nil {
		t.Fatalf("%s/%s not gone within 1m", a.Namespace, a.Name)
	}
}

// settingsDriftIsShown sets holdApplicationUntilProxyStarts in the mesh
// config of the real 1-31 revision only (its istio-1-31 ConfigMap, key
// mesh, as istioctl install --set meshConfig.defaultConfig... would): the
// plan lists it in settings_diff, and without it, two revisions installed
// alike, lists nothing.
func settingsDriftIsShown(ctx context.Context, t *testing.T, env *testenv.Cluster, dir string) {
	t.Helper()
	type diff struct {
		SettingsDiff *struct {
			Changes []struct{ Source, Path, From, To string } `json:"changes"`
		} `json:"settings_diff"`
	}
	read := func() diff {
		d, _ := harness.PlanJSON[diff](t, env, dir)
		return d
	}
	if d := read(); d.SettingsDiff != nil {
		t.Errorf("1-30 and 1-31 installed alike: settings_diff %+v, want none", *d.SettingsDiff)
	}
	restore := editConfigMapYAML(ctx, t, env, "istio-"+rev31.Name, "mesh", func(mesh map[string]any) {
		dc, _ := mesh["defaultConfig"].(map[string]any)
		if dc == nil {
			dc = map[string]any{}
			mesh["defaultConfig"] = dc
		}
		dc["holdApplicationUntilProxyStarts"] = true
	})
	d := read()
	restore()
	found := false
	if d.SettingsDiff != nil {
		for _, c := range d.SettingsDiff.Changes {
			found = found || c.Source == "mesh" && c.Path == "defaultConfig.holdApplicationUntilProxyStarts" && c.To == "true" && c.From == ""
		}
	}
	if !found {
		t.Errorf("holdApplicationUntilProxyStarts set on 1-31 only: settings_diff %+v, want a mesh change defaultConfig.holdApplicationUntilProxyStarts to \"true\" from unset", d.SettingsDiff)
	}
}
