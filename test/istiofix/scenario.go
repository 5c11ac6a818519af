package istiofix

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// The revisions of the upgrade scenario: one Istio build, rendered with two
// revisions and image tags.
var (
	Rev30 = Revision{Name: "1-30", Tag: "1.30.0"}
	Rev31 = Revision{Name: "1-31", Tag: "1.31.0"}
)

// App is one workload of the scenario.
type App struct {
	Namespace, Name string
	Replicas        int32
	// Native asks the injector for a native sidecar: istio-proxy among the
	// init containers, with restartPolicy Always.
	Native bool
}

// Apps are the scenario's workloads: a namespace on the revision label, one
// on the prod-stable tag, one on istio-injection=enabled (the default tag),
// and an ingress gateway injected with the gateway template.
var Apps = []App{
	{Namespace: "shop", Name: "web", Replicas: 2}, {Namespace: "shop", Name: "cart", Replicas: 1},
	{Namespace: "shop", Name: "native", Replicas: 1, Native: true},
	{Namespace: "tagged", Name: "api", Replicas: 1}, {Namespace: "legacy", Name: "old", Replicas: 1},
	{Namespace: "istio-ingress", Name: "istio-ingressgateway", Replicas: 1},
}

// OptedOut is a workload of a moved namespace whose pod template opts out
// of injection (sidecar.istio.io/inject: "false"): it runs no proxy, and an
// upgrade must neither restart nor verify it.
var OptedOut = App{Namespace: "shop", Name: "batch", Replicas: 1}

var namespaceLabels = map[string]map[string]string{
	"shop":          {"istio.io/rev": Rev30.Name},
	"tagged":        {"istio.io/rev": "prod-stable"},
	"legacy":        {"istio-injection": "enabled"},
	"istio-ingress": nil,
}

// LoadUpgradeScenario installs revisions 1-30 and 1-31, points the
// prod-stable and default tags at 1-30 with the real istioctl, and creates
// the Apps, waiting until the real injector has injected every pod.
func (m *Mesh) LoadUpgradeScenario(ctx context.Context) error {
	return m.loadScenario(ctx, Rev30, Rev31)
}

// LoadInstallScenario is LoadUpgradeScenario with only revision 1-30
// installed: the upgrade installs 1-31 itself (a plan's install block, from
// Manifest).
func (m *Mesh) LoadInstallScenario(ctx context.Context) error {
	return m.loadScenario(ctx, Rev30)
}

// loadScenario installs revs, points the tags at 1-30 and creates the Apps.
func (m *Mesh) loadScenario(ctx context.Context, revs ...Revision) error {
	for _, r := range revs {
		if err := m.Install(ctx, r); err != nil {
			return err
		}
	}
	for _, tag := range []string{"prod-stable", "default"} {
		if _, err := m.Istioctl(ctx, "tag", "set", tag, "--revision", Rev30.Name, "--overwrite", "--istioNamespace", "istio-system", "--skip-confirmation"); err != nil {
			return err
		}
	}
	cs := m.env.Client
	for _, ns := range []string{"shop", "tagged", "legacy", "istio-ingress"} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: namespaceLabels[ns]}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	for _, a := range append(slices.Clone(Apps), OptedOut) {
		if _, err := cs.AppsV1().Deployments(a.Namespace).Create(ctx, deployment(a), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create deployment %s/%s: %w", a.Namespace, a.Name, err)
		}
	}
	for _, a := range Apps {
		if err := m.WaitInjected(ctx, a, Rev30, 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// CreatePinned creates app a in a new namespace without injection labels,
// its pod template labeled istio.io/rev=r: injected by r through the
// injector's object selector, whatever the namespace says.
func (m *Mesh) CreatePinned(ctx context.Context, a App, r Revision) error {
	cs := m.env.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.Namespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", a.Namespace, err)
	}
	d := deployment(a)
	d.Spec.Template.Labels["istio.io/rev"] = r.Name
	if _, err := cs.AppsV1().Deployments(a.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", a.Namespace, a.Name, err)
	}
	return nil
}

// CreateWithTemplates creates app a in its existing namespace, its pod
// template asking the injector for templates (inject.istio.io/templates,
// "sidecar,grpc-simple").
func (m *Mesh) CreateWithTemplates(ctx context.Context, a App, templates string) error {
	d := deployment(a)
	d.Spec.Template.Annotations = map[string]string{"inject.istio.io/templates": templates}
	if _, err := m.env.Client.AppsV1().Deployments(a.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", a.Namespace, a.Name, err)
	}
	return nil
}

// deployment is an app, or for istio-ingressgateway a gateway as Istio's
// docs deploy one: the proxy image "auto", injected with the gateway
// template of the revision its istio.io/rev label names.
func deployment(a App) *appsv1.Deployment {
	labels := map[string]string{"app": a.Name}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": a.Name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "docker.io/library/nginx:1.25"}}},
	}
	switch {
	case a.Native:
		tmpl.Annotations = map[string]string{"sidecar.istio.io/nativeSidecar": "true"}
	case a == OptedOut:
		tmpl.Labels["sidecar.istio.io/inject"] = "false"
	case a.Name == "istio-ingressgateway":
		tmpl.Labels["istio.io/rev"] = Rev30.Name
		tmpl.Labels["sidecar.istio.io/inject"] = "true"
		tmpl.Annotations = map[string]string{"inject.istio.io/templates": "gateway"}
		tmpl.Spec.Containers = []corev1.Container{{Name: "istio-proxy", Image: "auto"}}
	}
	replicas := a.Replicas
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: a.Name, Namespace: a.Namespace, Labels: labels},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}
}

// Injected is what the real injector recorded on one pod.
type Injected struct {
	Name, Image, Revision string
	Ready                 bool
	// Native: the proxy is a native sidecar (an init container).
	Native bool
}

// Pods lists an app's live pods as the injector left them.
func (m *Mesh) Pods(ctx context.Context, a App) ([]Injected, error) {
	pods, err := m.env.Client.CoreV1().Pods(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + a.Name})
	if err != nil {
		return nil, err
	}
	var out []Injected
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		in := Injected{Name: p.Name}
		var status struct {
			Revision string `json:"revision"`
		}
		_ = json.Unmarshal([]byte(p.Annotations["sidecar.istio.io/status"]), &status)
		in.Revision = status.Revision
		for _, c := range p.Spec.Containers {
			if c.Name == "istio-proxy" {
				in.Image = c.Image
			}
		}
		for _, c := range p.Spec.InitContainers {
			if c.Name == "istio-proxy" && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				in.Image, in.Native = c.Image, true
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				in.Ready = true
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// WaitInjected waits until every pod of a runs r's proxy, was injected by r
// (sidecar.istio.io/status) and is Ready.
func (m *Mesh) WaitInjected(ctx context.Context, a App, r Revision, timeout time.Duration) error {
	var last []Injected
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		if last, err = m.Pods(ctx, a); err != nil {
			return false, nil
		}
		for _, p := range last {
			if p.Image != r.ProxyImage() || p.Revision != r.Name || !p.Ready || p.Native != a.Native {
				return false, nil
			}
		}
		return int32(len(last)) == a.Replicas, nil
	})
	if err != nil {
		return fmt.Errorf("%s/%s: pods not all injected by %s (%s) and Ready within %s; last seen %+v", a.Namespace, a.Name, r.Name, r.ProxyImage(), timeout, last)
	}
	return nil
}
