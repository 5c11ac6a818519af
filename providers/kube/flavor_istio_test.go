package kube

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

func ptr[T any](v T) *T { return &v }

// injectorWebhook is a revision's injector webhook configuration as the
// rendered manifests hold it, pointed at a URL.
func injectorWebhook(name, rev, tag, url string) admissionregistrationv1.MutatingWebhookConfiguration {
	labels := map[string]string{"app": "sidecar-injector", plan.LabelRevision: rev, plan.LabelComponent: "Pilot", "release": "istio"}
	value := rev
	if tag != "" {
		labels[plan.LabelTag] = tag
		value = tag
	}
	// The selectors of Istio's chart: a namespace labeled istio.io/rev=VALUE
	// without istio-injection, or a pod labeled so in a namespace with
	// neither label; never a pod labeled sidecar.istio.io/inject=false.
	req := func(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	notOptedOut := req(plan.LabelInjectPod, metav1.LabelSelectorOpNotIn, "false")
	return admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "rev.namespace.sidecar-injector.istio.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr(url + "/inject"), CABundle: []byte("CA-" + rev)},
				ReinvocationPolicy: ptr(admissionregistrationv1.NeverReinvocationPolicy),
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					req(plan.LabelRevision, metav1.LabelSelectorOpIn, value), req(plan.LabelInjection, metav1.LabelSelectorOpDoesNotExist)}},
				ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{notOptedOut}}},
			{Name: "rev.object.sidecar-injector.istio.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr(url + "/inject"), CABundle: []byte("CA-" + rev)},
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					req(plan.LabelRevision, metav1.LabelSelectorOpDoesNotExist), req(plan.LabelInjection, metav1.LabelSelectorOpDoesNotExist)}},
				ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					notOptedOut, req(plan.LabelRevision, metav1.LabelSelectorOpIn, value)}}},
		},
	}
}

func injectedPod(ns, name, rev, image string, owner []metav1.OwnerReference, labels map[string]string) corev1.Pod {
	p := pod(ns, name, owner, labels)
	p.Spec.Containers[1].Image = image
	p.Annotations = map[string]string{plan.AnnotationSidecarStatus: `{"containers":["istio-proxy"],"revision":"` + rev + `"}`}
	return p
}

// fixtureObjects is an upstream install as istioctl leaves it today: no
// IstioOperator, the revisions found by their webhooks, Deployments and
// injector ConfigMaps; pods carry the injector's annotation, not a label.
func fixtureObjects() *clusterObjects {
	istiod := func(rev string) appsv1.Deployment {
		return appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod-" + rev, Labels: map[string]string{"app": "istiod", plan.LabelRevision: rev}},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "istiod", plan.LabelRevision: rev}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "discovery", Image: "docker.io/istio/pilot:" + strings.ReplaceAll(rev, "-", ".") + ".0"}}},
			}},
		}
	}
	injectorCM := func(rev, tag string) corev1.ConfigMap {
		return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-sidecar-injector-" + rev, Labels: map[string]string{plan.LabelRevision: rev}},
			Data: map[string]string{"values": `{"global":{"hub":"docker.io/istio","tag":"` + tag + `","proxy":{"image":"proxyv2"}}}`}}
	}
	// istiod's own pod, not named istiod-*: the old plan rule took it for
	// a user (it matched istiod by name), the old re-check did not.
	pilot := pod("istio-system", "pilot-0", nil, map[string]string{"app": "istiod", plan.LabelRevision: "1-30"})
	pilot.Spec.Containers = []corev1.Container{{Name: "discovery", Image: "docker.io/istio/pilot:1.30.0"}}
	pilot.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	return &clusterObjects{
		namespaces: []corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{plan.LabelRevision: "1-31"}}},
		},
		pods: []corev1.Pod{
			pilot,
			// Labeled 1-31 (the old re-check's rule: not a user), but its
			// injector recorded 1-30 and it runs 1-30's proxy (the old
			// plan rule's: a user): it talks to 1-30.
			injectedPod("shop", "web-1", "1-30", "docker.io/istio/proxyv2:1.30.0", owned("ReplicaSet", "web-5d4"), map[string]string{plan.LabelRevision: "1-31"}),
			injectedPod("shop", "cart-1", "1-31", "docker.io/istio/proxyv2:1.31.0", owned("ReplicaSet", "cart-7f"), nil),
		},
		replicaSets: []appsv1.ReplicaSet{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-5d4", OwnerReferences: owned("Deployment", "web")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart-7f", OwnerReferences: owned("Deployment", "cart")}},
		},
		deployments: []appsv1.Deployment{istiod("1-30"), istiod("1-31")},
		mutating: []admissionregistrationv1.MutatingWebhookConfiguration{
			injectorWebhook("istio-sidecar-injector-1-30", "1-30", "", "https://127.0.0.1:15017"),
			injectorWebhook("istio-sidecar-injector-1-31", "1-31", "", "https://127.0.0.1:15018"),
			injectorWebhook("istio-revision-tag-prod-stable", "1-31", "prod-stable", "https://127.0.0.1:15018"),
		},
		configMaps: []corev1.ConfigMap{injectorCM("1-30", "1.30.0"), injectorCM("1-31", "1.31.0")},
		installed: map[schema.GroupVersionResource][]metav1.PartialObjectMetadata{
			installedKinds[0].gvr: {
				{ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-1-30", Labels: map[string]string{plan.LabelRevision: "1-30"}}},
			},
			installedKinds[2].gvr: {
				{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod-1-30", Labels: map[string]string{plan.LabelRevision: "1-30"}}},
			},
		},
	}
}

func TestIstioControlPlanes(t *testing.T) {
	snap := snapshotOf(upstreamIstio{}, &config.Config{}, fixtureObjects())
	type row struct {
		Revision, Kind, Name, Namespace, Version, ProxyImage string
		Tags                                                 []string
		Istiod                                               int
		Objects                                              []plan.InstalledObject
		Endpoints                                            []string
	}
	var got []row
	for _, cp := range snap.ControlPlanes {
		got = append(got, row{cp.Revision, cp.Kind, cp.Name, cp.Namespace, cp.Version, cp.ProxyImage, cp.Tags, len(cp.Istiod), cp.Objects, cp.Endpoints})
	}
	want := []row{
		{"1-30", "Deployment", "istiod-1-30", "istio-system", "1.30.0", "docker.io/istio/proxyv2:1.30.0", nil, 1,
			[]plan.InstalledObject{
				{ObjectRef: plan.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: "istio-sidecar-injector-1-30"}},
				{ObjectRef: plan.ObjectRef{Kind: "Deployment", Namespace: "istio-system", Name: "istiod-1-30"}},
			},
			[]string{"service:istio-system/istiod-1-30", "url:https://127.0.0.1:15017"}},
		// The revision's webhooks go with it even where they lack the
		// installer's component label.
		{"1-31", "Deployment", "istiod-1-31", "istio-system", "1.31.0", "docker.io/istio/proxyv2:1.31.0", []string{"prod-stable"}, 0,
			[]plan.InstalledObject{
				{ObjectRef: plan.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: "istio-revision-tag-prod-stable"}, Tag: "prod-stable"},
				{ObjectRef: plan.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: "istio-sidecar-injector-1-31"}},
			},
			[]string{"service:istio-system/istiod-1-31", "url:https://127.0.0.1:15018"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("control planes (-want +got):\n%s", d)
	}
	var revs []string
	for _, w := range snap.Workloads {
		for _, p := range w.Pods {
			revs = append(revs, p.Name+"="+p.Revision)
		}
	}
	if d := cmp.Diff([]string{"cart-1=1-31", "web-1=1-30", "pilot-0=1-30"}, revs); d != "" {
		t.Errorf("pod revisions (-want +got):\n%s", d)
	}
}

// The plan's MW015 check and the re-check an uninstall makes before it
// deletes anything apply one rule: on the same objects they name the same
// users, on a snapshot where the two former rules disagreed.
func TestPlanAndUninstallRecheckAgree(t *testing.T) {
	objs := fixtureObjects()
	cfg := &config.Config{Upgrade: config.Upgrade{From: "1-30", To: "1-31", Flavor: plan.FlavorIstio}, Finalize: config.FinalizeConfig{UninstallOld: true}}
	p := plan.Compute(cfg, snapshotOf(upstreamIstio{}, cfg, objs))
	var planSays string
	for _, c := range p.Checks {
		if c.Code == plan.CodeOldStillUsed {
			planSays = c.Message
		}
	}
	recheck := usersOf(upstreamIstio{}, objs, "1-30")
	if d := cmp.Diff([]string{"pod shop/web-1"}, recheck); d != "" {
		t.Errorf("re-check users (-want +got):\n%s", d)
	}
	want := "the old control plane would still be used after the plan by: " + strings.Join(recheck, ", ")
	if planSays != want {
		t.Errorf("plan's MW015 = %q, want %q", planSays, want)
	}
}

// Moving a tag writes what istioctl writes for the new revision: its
// injector's endpoint, CA bundle, reinvocation policy and labels.
func TestRepointedTagWebhook(t *testing.T) {
	src := injectorWebhook("istio-sidecar-injector-1-30", "1-30", "", "https://127.0.0.1:15017")
	dst := injectorWebhook("istio-sidecar-injector-1-31", "1-31", "", "https://127.0.0.1:15018")
	dst.Labels["install.operator.istio.io/owning-resource"] = "installed-1-31"
	dst.Webhooks[0].ReinvocationPolicy = ptr(admissionregistrationv1.IfNeededReinvocationPolicy)
	tag := injectorWebhook("istio-revision-tag-prod-stable", "1-30", "prod-stable", "https://127.0.0.1:15017")
	tag.Labels["app"] = "sidecar-injector"
	tag.Labels["custom"] = "kept"

	got, err := repointedTagWebhook(&tag, &src, &dst, "1-31")
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{"app": "sidecar-injector", plan.LabelRevision: "1-31", plan.LabelTag: "prod-stable", plan.LabelComponent: "Pilot",
		"release": "istio", "install.operator.istio.io/owning-resource": "installed-1-31", "custom": "kept"}
	if d := cmp.Diff(wantLabels, got.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	for _, w := range got.Webhooks {
		if *w.ClientConfig.URL != "https://127.0.0.1:15018/inject" || string(w.ClientConfig.CABundle) != "CA-1-31" {
			t.Errorf("webhook %s calls %s with CA %q, want 1-31's", w.Name, *w.ClientConfig.URL, w.ClientConfig.CABundle)
		}
		if *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
			t.Errorf("webhook %s reinvocation %s, want 1-31's IfNeeded", w.Name, *w.ReinvocationPolicy)
		}
	}
	again, err := repointedTagWebhook(got, &dst, &dst, "1-31")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(got, again); d != "" {
		t.Errorf("re-pointing twice is not idempotent (-once +twice):\n%s", d)
	}
}

// A Deployment pinned to the old revision by its pod template's own
// istio.io/rev, in a namespace without injection labels, is injected by the
// old revision through its object selector: the plan refuses the uninstall
// naming it (MW041), and the uninstall's re-check names it too.
func TestPinnedWorkloadIsAUserOfTheOldRevision(t *testing.T) {
	objs := fixtureObjects()
	objs.namespaces = append(objs.namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy",
		Labels: map[string]string{"kubernetes.io/metadata.name": "legacy"}}})
	objs.pods = append(objs.pods, injectedPod("legacy", "cache-1", "1-30", "docker.io/istio/proxyv2:1.30.0", owned("ReplicaSet", "cache-9c"), map[string]string{plan.LabelRevision: "1-30"}))
	objs.replicaSets = append(objs.replicaSets, appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy", Name: "cache-9c", OwnerReferences: owned("Deployment", "cache")}})
	objs.deployments = append(objs.deployments, appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy", Name: "cache"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "cache", plan.LabelRevision: "1-30"}}}}})
	cfg := &config.Config{Upgrade: config.Upgrade{From: "1-30", To: "1-31", Flavor: plan.FlavorIstio},
		Waves:    []config.WaveConfig{{Name: "shop", Namespaces: []string{"shop"}}},
		Finalize: config.FinalizeConfig{UninstallOld: true}}
	p := plan.Compute(cfg, snapshotOf(upstreamIstio{}, cfg, objs))
	var pinned []plan.Check
	for _, c := range p.Checks {
		if c.Code == plan.CodePinnedToOld {
			pinned = append(pinned, c)
		}
	}
	if len(pinned) != 1 || *pinned[0].Object != (plan.ObjectRef{Kind: "Deployment", Namespace: "legacy", Name: "cache"}) ||
		pinned[0].Severity != plan.SeverityError || !strings.Contains(pinned[0].Message, "istio.io/rev=1-30") || !strings.Contains(pinned[0].Hint, "istio.io/rev=1-31") {
		t.Errorf("MW041 checks = %+v, want one error on Deployment legacy/cache naming istio.io/rev=1-30 and the fix", pinned)
	}
	if !p.Blocked() {
		t.Errorf("a plan that uninstalls 1-30 while legacy/cache is pinned to it is not blocked")
	}
	recheck := usersOf(upstreamIstio{}, objs, "1-30")
	if !slices.Contains(recheck, "Deployment legacy/cache (pod template label istio.io/rev=1-30)") {
		t.Errorf("re-check users = %v, want the pinned Deployment among them", recheck)
	}
}

// Without a plan (meshwave generate), every gateway Deployment is read: the
// one injected with the gateway template and the one istioctl installed,
// not an app whose template names a revision.
func TestEveryIstioGatewayWithoutAPlan(t *testing.T) {
	dep := func(ns, name string, labels, annotations map[string]string) appsv1.Deployment {
		d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		d.Spec.Template.Labels, d.Spec.Template.Annotations = labels, annotations
		return d
	}
	deps := []appsv1.Deployment{
		dep("istio-ingress", "ingress", map[string]string{plan.LabelRevision: "1-30"}, map[string]string{plan.AnnotationInjectTemplates: "gateway"}),
		dep("istio-system", "istio-egressgateway", map[string]string{plan.LabelRevision: "1-30", plan.LabelComponent: "EgressGateways"}, nil),
		dep("shop", "web", map[string]string{plan.LabelRevision: "1-30"}, nil),
		dep("edge", "unrevisioned", nil, map[string]string{plan.AnnotationInjectTemplates: "gateway"}),
	}
	var got []string
	for _, g := range istioGateways(nil, deps, nil) {
		got = append(got, g.Namespace+"/"+g.Name+"@"+g.ControlPlane)
	}
	if d := cmp.Diff([]string{"istio-ingress/ingress@1-30", "istio-system/istio-egressgateway@1-30"}, got); d != "" {
		t.Errorf("gateways (-want +got):\n%s", d)
	}
	// A plan's gateways are those it names.
	cfg := &config.Config{Gateways: []config.GatewayConfig{{Namespace: "shop", Name: "web"}}}
	if gws := istioGateways(cfg, deps, nil); len(gws) != 1 || gws[0].Name != "web" {
		t.Errorf("gateways of a plan = %+v, want shop/web alone", gws)
	}
}
