package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// upstreamIstio is Istio as istioctl and Helm install it: a control plane is
// a revision (its injector webhook, istiod Deployment and the objects
// labeled with it), and a gateway is a Deployment whose pod template carries
// the istio.io/rev label.
type upstreamIstio struct{}

var _ flavor = upstreamIstio{}

// Helm's marks on the objects of a release, and the injector ConfigMap's
// key.
const (
	labelManagedBy    = "app.kubernetes.io/managed-by"
	annoHelmRelease   = "meta.helm.sh/release-name"
	annoHelmReleaseNS = "meta.helm.sh/release-namespace"
	injectorValuesKey = "values"
	injectorConfigKey = "config"
	meshConfigKey     = "mesh"
)

// fetch lists the objects each installed revision is made of.
func (upstreamIstio) fetch(ctx context.Context, p *Provider, o *clusterObjects) error {
	installed, err := p.listInstalled(ctx)
	o.installed = installed
	return err
}

func (upstreamIstio) controlPlanes(o *clusterObjects) []plan.ControlPlane {
	return istioControlPlanes(o)
}

func (upstreamIstio) gateways(cfg *config.Config, o *clusterObjects) []plan.MeshGateway {
	return istioGateways(cfg, o.deployments, o.pods)
}

func (upstreamIstio) gatewayRevision(ctx context.Context, p *Provider, obj *plan.ObjectRef) (string, error) {
	var d *appsv1.Deployment
	err := p.call(ctx, func(ctx context.Context) (err error) {
		d, err = p.cs.AppsV1().Deployments(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read gateway %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	return d.Spec.Template.Labels[plan.LabelRevision], nil
}

// setGatewayRevision sets the istio.io/rev label of the gateway
// Deployment's pod template.
func (upstreamIstio) setGatewayRevision(ctx context.Context, p *Provider, obj *plan.ObjectRef, rev string) error {
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"labels": map[string]string{plan.LabelRevision: rev}}}}})
	if err == nil {
		err = p.send(ctx, func(ctx context.Context) error {
			_, err := p.cs.AppsV1().Deployments(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("move gateway %s/%s to %s: %w", obj.Namespace, obj.Name, rev, err)
	}
	return nil
}

func (upstreamIstio) gatewayResource() schema.GroupResource {
	return schema.GroupResource{Group: "apps", Resource: "deployments"}
}

// uninstallKinds are the installing object's kind and the kinds of the
// objects each old revision is made of.
func (upstreamIstio) uninstallKinds(old []plan.ControlPlane) map[string]bool {
	kinds := map[string]bool{}
	for _, cp := range old {
		kinds[cp.Kind] = true
		for _, o := range cp.Objects {
			kinds[o.Kind] = true
		}
	}
	return kinds
}

// listInstalled lists, as metadata only, the objects of every installed
// revision: those an uninstall of a revision would remove.
func (p *Provider) listInstalled(ctx context.Context) (map[schema.GroupVersionResource][]metav1.PartialObjectMetadata, error) {
	sel := fmt.Sprintf("%s,%s in (%s)", plan.LabelRevision, plan.LabelComponent, strings.Join(plan.UninstallComponents, ","))
	out := map[schema.GroupVersionResource][]metav1.PartialObjectMetadata{}
	for _, k := range installedKinds {
		var list *metav1.PartialObjectMetadataList
		err := p.call(ctx, func(ctx context.Context) (err error) {
			list, err = p.meta.Resource(k.gvr).Namespace("").List(ctx, metav1.ListOptions{LabelSelector: sel})
			return err
		})
		if apierrors.IsNotFound(err) {
			continue // the kind is not served (e.g. no EnvoyFilter CRD)
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.gvr.GroupResource(), err)
		}
		out[k.gvr] = list.Items
	}
	return out, nil
}

// istioControlPlanes finds the upstream-Istio revisions as istioctl and Helm
// install them today: a revision is its injector webhook and istiod
// Deployment, with its hub and tag in the injector's ConfigMap. An
// IstioOperator resource, where one exists, names the installing object.
func istioControlPlanes(o *clusterObjects) []plan.ControlPlane {
	revs := istioRevisions{}
	revs.addInjectors(o)
	revs.addIstiods(o)
	revs.addInjectorConfigs(o)
	revs.addIstioOperators(o)
	revs.addSettings(o)
	revs.addInstalled(o)
	// A revision's own webhooks go with it even where the installer did not
	// mark them as its component (the revision's validator has no
	// operator.istio.io/component label, so `istioctl uninstall --revision`
	// leaves it calling a removed istiod).
	for i := range o.mutating {
		revs.addOwnWebhook("MutatingWebhookConfiguration", o.mutating[i].ObjectMeta)
	}
	for i := range o.validating {
		revs.addOwnWebhook("ValidatingWebhookConfiguration", o.validating[i].ObjectMeta)
	}
	return revs.list()
}

// istioRevisions are the upstream-Istio control planes found so far, by
// revision.
type istioRevisions map[string]*plan.ControlPlane

func (r istioRevisions) get(rev string) *plan.ControlPlane {
	if r[rev] == nil {
		r[rev] = &plan.ControlPlane{Revision: rev}
	}
	return r[rev]
}

// addInjectors adds a revision per injection webhook (tags aside) with the
// endpoints it calls.
func (r istioRevisions) addInjectors(o *clusterObjects) {
	for i := range o.mutating {
		wh := &o.mutating[i]
		rev := wh.Labels[plan.LabelRevision]
		if rev == "" || wh.Labels[plan.LabelTag] != "" || !hasInjectionWebhook(wh) {
			continue
		}
		cp := r.get(rev)
		for _, w := range wh.Webhooks {
			cp.Endpoints = append(cp.Endpoints, endpointOf(w.ClientConfig))
		}
	}
}

// addIstiods adds each revision's istiod Deployment: where it runs, the Helm
// release that installed it, and the proxy its image implies.
func (r istioRevisions) addIstiods(o *clusterObjects) {
	for i := range o.deployments {
		d := &o.deployments[i]
		rev := d.Spec.Template.Labels[plan.LabelRevision]
		if d.Labels[labelApp] != "istiod" && d.Spec.Template.Labels[labelApp] != "istiod" || rev == "" {
			continue
		}
		cp := r.get(rev)
		cp.Kind, cp.Name, cp.Namespace = "Deployment", d.Name, d.Namespace
		if d.Labels[labelManagedBy] == "Helm" && d.Annotations[annoHelmRelease] != "" {
			cp.HelmRelease = d.Annotations[annoHelmReleaseNS] + "/" + d.Annotations[annoHelmRelease]
		}
		if cp.ProxyImage == "" {
			cp.Version, cp.ProxyImage = proxyFromIstiodImage(d)
		}
		cp.Endpoints = append(cp.Endpoints, plan.WebhookEndpoint("", d.Namespace, d.Name))
	}
}

// addInjectorConfigs reads the proxy image from each revision's injector
// ConfigMap, which wins over the istiod image.
func (r istioRevisions) addInjectorConfigs(o *clusterObjects) {
	for i := range o.configMaps {
		cm := &o.configMaps[i]
		rev := cm.Labels[plan.LabelRevision]
		if rev == "" || cm.Name != plan.InjectorWebhookName(rev) {
			continue
		}
		cp := r.get(rev)
		if cp.Namespace == "" {
			cp.Namespace = cm.Namespace
		}
		if v, img := proxyFromInjectorValues(cm.Data[injectorValuesKey]); img != "" {
			cp.Version, cp.ProxyImage = v, img
		}
		cp.InjectTemplates = injectorTemplates(cm.Data[injectorConfigKey])
	}
}

// addSettings keeps each known revision's mesh config (key mesh of its
// istio-REV ConfigMap, YAML) and injection values (key values of its
// injector ConfigMap, JSON), flattened by plan.SettingsOf. A ConfigMap that
// is missing or cannot be read leaves its source out: the plan then says
// nothing of it rather than list every setting as removed.
func (r istioRevisions) addSettings(o *clusterObjects) {
	docs := map[string]map[string]any{}
	for i := range o.configMaps {
		cm := &o.configMaps[i]
		rev := cm.Labels[plan.LabelRevision]
		cp := r[rev]
		if cp == nil || cp.Namespace != "" && cm.Namespace != cp.Namespace {
			continue
		}
		var source string
		var doc any
		var ok bool
		switch cm.Name {
		case plan.MeshConfigName(rev):
			source = plan.SettingsMesh
			doc, ok = settingsDocument(cm.Data[meshConfigKey])
		case plan.InjectorWebhookName(rev):
			source = plan.SettingsValues
			doc, ok = settingsDocument(cm.Data[injectorValuesKey])
		}
		if !ok {
			continue
		}
		if docs[rev] == nil {
			docs[rev] = map[string]any{}
		}
		docs[rev][source] = doc
	}
	for rev, d := range docs {
		r[rev].Settings = plan.SettingsOf(d)
	}
}

// settingsDocument decodes a YAML or JSON document, numbers as written;
// false when there is none or it cannot be read.
func settingsDocument(text string) (any, bool) {
	if strings.TrimSpace(text) == "" {
		return nil, false
	}
	js, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var doc any
	if d.Decode(&doc) != nil || doc == nil {
		return nil, false
	}
	return doc, true
}

// addIstioOperators names the IstioOperator that installed a revision, and
// takes its version and proxy image from it.
func (r istioRevisions) addIstioOperators(o *clusterObjects) {
	for _, u := range o.crs[gvrIstioOperator] {
		rev := stringField(u.Object, "spec", "revision")
		if rev == "" {
			rev = config.DefaultRevision
		}
		cp := r.get(rev)
		cp.Kind, cp.Name, cp.Namespace = "IstioOperator", u.GetName(), u.GetNamespace()
		tag := stringField(u.Object, "spec", "tag")
		hub := stringField(u.Object, "spec", "hub")
		img := stringField(u.Object, "spec", "values", "global", "proxy", "image")
		cp.Version, cp.ProxyImage = tag, proxyImage(hub, img, tag)
	}
}

// addInstalled adds to each known revision the objects labeled with it.
func (r istioRevisions) addInstalled(o *clusterObjects) {
	for gvr, items := range o.installed {
		kind := kindOf(gvr)
		for _, m := range items {
			cp := r[m.Labels[plan.LabelRevision]]
			if cp == nil {
				continue
			}
			cp.Objects = append(cp.Objects, plan.InstalledObject{
				ObjectRef: plan.ObjectRef{Kind: kind, Namespace: m.Namespace, Name: m.Name},
				Tag:       m.Labels[plan.LabelTag]})
		}
	}
}

// addOwnWebhook adds a webhook labeled with a known revision to its
// objects, once.
func (r istioRevisions) addOwnWebhook(kind string, m metav1.ObjectMeta) {
	cp := r[m.Labels[plan.LabelRevision]]
	if cp == nil {
		return
	}
	ref := plan.ObjectRef{Kind: kind, Name: m.Name}
	for _, o := range cp.Objects {
		if o.ObjectRef == ref {
			return
		}
	}
	cp.Objects = append(cp.Objects, plan.InstalledObject{ObjectRef: ref, Tag: m.Labels[plan.LabelTag]})
}

// list returns the control planes sorted by revision, each with its
// endpoints and objects sorted.
func (r istioRevisions) list() []plan.ControlPlane {
	out := make([]plan.ControlPlane, 0, len(r))
	for _, cp := range r {
		if cp.Namespace == "" {
			cp.Namespace = config.IstioNamespace
		}
		sort.Strings(cp.Endpoints)
		cp.Endpoints = slices.Compact(cp.Endpoints)
		sortInstalled(cp.Objects)
		out = append(out, *cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

// proxyFromInjectorValues reads the proxy a revision injects from its
// injector ConfigMap's values (global.hub, global.tag, global.proxy.image).
func proxyFromInjectorValues(values string) (version, image string) {
	var v struct {
		Global struct {
			Hub   string `json:"hub"`
			Tag   any    `json:"tag"`
			Proxy struct {
				Image string `json:"image"`
			} `json:"proxy"`
		} `json:"global"`
	}
	if values == "" || json.Unmarshal([]byte(values), &v) != nil {
		return "", ""
	}
	tag := fmt.Sprint(v.Global.Tag)
	if v.Global.Tag == nil || tag == "" || v.Global.Hub == "" {
		return "", ""
	}
	return tag, proxyImage(v.Global.Hub, v.Global.Proxy.Image, tag)
}

// injectorTemplates are the names of the injection templates in an
// injector ConfigMap's config (its templates map), sorted; nil when the
// config cannot be read, so that nothing is taken to be missing.
func injectorTemplates(cfg string) []string {
	var c struct {
		Templates map[string]any `json:"templates"`
	}
	if cfg == "" || yaml.Unmarshal([]byte(cfg), &c) != nil || c.Templates == nil {
		return nil
	}
	out := make([]string, 0, len(c.Templates))
	for name := range c.Templates {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// proxyImage is the image Istio's injector uses: proxy.image as is when it
// is a full reference, else HUB/IMAGE:TAG (IMAGE defaulting to proxyv2).
func proxyImage(hub, image, tag string) string {
	if strings.Contains(image, "/") {
		return image
	}
	if image == "" {
		image = "proxyv2"
	}
	return strings.TrimSuffix(hub, "/") + "/" + image + ":" + tag
}

// proxyFromIstiodImage guesses the proxy from istiod's own image
// (HUB/pilot:TAG -> HUB/proxyv2:TAG) when no injector ConfigMap says it.
func proxyFromIstiodImage(d *appsv1.Deployment) (version, image string) {
	for _, c := range d.Spec.Template.Spec.Containers {
		slash := strings.LastIndex(c.Image, "/")
		colon := strings.LastIndex(c.Image, ":")
		if c.Name != "discovery" || slash < 0 || colon < slash {
			continue
		}
		tag := c.Image[colon+1:]
		return tag, proxyImage(c.Image[:slash], "", tag)
	}
	return "", ""
}

// istioGateways reads the upstream-Istio gateways a plan names: Deployments
// whose pod template carries the istio.io/rev label. Without a plan (nil
// cfg: meshwave generate) it reads every gateway: each Deployment whose pod
// template is a gateway's (plan.IsGateway) and names its revision.
func istioGateways(cfg *config.Config, deps []appsv1.Deployment, pods []corev1.Pod) []plan.MeshGateway {
	var out []plan.MeshGateway
	if cfg == nil {
		for i := range deps {
			t := &deps[i].Spec.Template
			if t.Labels[plan.LabelRevision] != "" && plan.IsGateway(t.Labels, t.Annotations) {
				out = append(out, istioGateway(&deps[i], pods))
			}
		}
		return out
	}
	for _, gc := range cfg.Gateways {
		for i := range deps {
			if d := &deps[i]; d.Namespace == gc.Namespace && d.Name == gc.Name {
				out = append(out, istioGateway(d, pods))
			}
		}
	}
	return out
}

// istioGateway is a gateway Deployment as the snapshot holds it.
func istioGateway(d *appsv1.Deployment, pods []corev1.Pod) plan.MeshGateway {
	g := plan.MeshGateway{Name: d.Name, Namespace: d.Namespace, ControlPlane: d.Spec.Template.Labels[plan.LabelRevision],
		Management: managementOf(d)}
	root := true
	if sc := d.Spec.Template.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot {
		root = false
	}
	g.RunAsRoot = &root
	g.Pods = gatewayPods(d.Namespace, d.Name, pods)
	return g
}

// asInstalled: the manifest is the revision's objects themselves, istiod,
// its webhooks and its injector's ConfigMap among them.
func (upstreamIstio) asInstalled(o *clusterObjects, objs []config.ManifestObject) *clusterObjects {
	return withManifest(o, objs)
}

// installReconciled: the manifest's objects are the installation; nothing
// renders them further.
func (upstreamIstio) installReconciled(context.Context, *Provider, plan.Step) error { return nil }

// installInjects probes in istiod's namespace with a pod labeled
// istio.io/rev=<to>, which the revision's object-selector webhook injects.
func (upstreamIstio) installInjects(ctx context.Context, p *Provider, s plan.Step) (string, error) {
	return "namespace " + s.Object.Namespace, p.injectedByRevision(ctx, s, s.Object.Namespace)
}
