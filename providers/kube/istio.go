package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// installedKinds are the kinds an installed revision is made of, in the order
// an uninstall deletes them: the webhooks first, so nothing calls an istiod
// that is going away, then the namespaced objects, then cluster RBAC. They
// are the kinds `istioctl uninstall --revision` prunes, Pods aside: a
// revision's pods belong to its Deployments and go with them.
var installedKinds = []struct {
	gvr  schema.GroupVersionResource
	kind string
}{
	{schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}, "MutatingWebhookConfiguration"},
	{schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}, "ValidatingWebhookConfiguration"},
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "Deployment"},
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}, "DaemonSet"},
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "Service"},
	{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "ConfigMap"},
	{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "Secret"},
	{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, "ServiceAccount"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, "RoleBinding"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, "Role"},
	{schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}, "PodDisruptionBudget"},
	{schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, "HorizontalPodAutoscaler"},
	{gvrEnvoyFilter, "EnvoyFilter"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, "ClusterRoleBinding"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, "ClusterRole"},
}

// Helm's marks on the objects of a release.
const (
	labelManagedBy       = "app.kubernetes.io/managed-by"
	annoHelmRelease      = "meta.helm.sh/release-name"
	annoHelmReleaseNS    = "meta.helm.sh/release-namespace"
	injectorValuesKey    = "values"
	validatorDefaultName = "istiod-default-validator"
	injectionWebhookTail = "sidecar-injector.istio.io"
)

// listInstalled lists, as metadata only, the objects of every installed
// revision: those an uninstall of a revision would remove.
func (p *Provider) listInstalled(ctx context.Context) (map[schema.GroupVersionResource][]metav1.PartialObjectMetadata, error) {
	sel := fmt.Sprintf("%s,%s in (%s)", plan.LabelRevision, plan.LabelComponent, strings.Join(plan.UninstallComponents, ","))
	out := map[schema.GroupVersionResource][]metav1.PartialObjectMetadata{}
	for _, k := range installedKinds {
		list, err := p.meta.Resource(k.gvr).Namespace("").List(ctx, metav1.ListOptions{LabelSelector: sel})
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
	}
}

// addIstioOperators names the IstioOperator that installed a revision, and
// takes its version and proxy image from it.
func (r istioRevisions) addIstioOperators(o *clusterObjects) {
	for _, u := range o.crs[gvrIstioOperator] {
		rev, _, _ := unstructured.NestedString(u.Object, "spec", "revision")
		if rev == "" {
			rev = config.DefaultRevision
		}
		cp := r.get(rev)
		cp.Kind, cp.Name, cp.Namespace = "IstioOperator", u.GetName(), u.GetNamespace()
		tag, _, _ := unstructured.NestedString(u.Object, "spec", "tag")
		hub, _, _ := unstructured.NestedString(u.Object, "spec", "hub")
		img, _, _ := unstructured.NestedString(u.Object, "spec", "values", "global", "proxy", "image")
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

// sortInstalled puts objects in installedKinds order, then by namespace and
// name.
func sortInstalled(objs []plan.InstalledObject) {
	rank := map[string]int{}
	for i, k := range installedKinds {
		rank[k.kind] = i
	}
	sort.Slice(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if rank[a.Kind] != rank[b.Kind] {
			return rank[a.Kind] < rank[b.Kind]
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

func kindOf(gvr schema.GroupVersionResource) string {
	for _, k := range installedKinds {
		if k.gvr == gvr {
			return k.kind
		}
	}
	return gvr.Resource
}

func gvrOf(kind string) (schema.GroupVersionResource, bool) {
	for _, k := range installedKinds {
		if k.kind == kind {
			return k.gvr, true
		}
	}
	return schema.GroupVersionResource{}, false
}

// hasInjectionWebhook reports whether a webhook configuration holds a
// sidecar-injection webhook.
func hasInjectionWebhook(wh *admissionregistrationv1.MutatingWebhookConfiguration) bool {
	for _, w := range wh.Webhooks {
		if strings.HasSuffix(w.Name, injectionWebhookTail) {
			return true
		}
	}
	return false
}

func endpointOf(cc admissionregistrationv1.WebhookClientConfig) string {
	if cc.Service != nil {
		return plan.WebhookEndpoint("", cc.Service.Namespace, cc.Service.Name)
	}
	if cc.URL != nil {
		return plan.WebhookEndpoint(*cc.URL, "", "")
	}
	return ""
}

// webhooksOf lists the webhook configurations that concern Istio: those
// labeled with a revision, those that call an istiod Service, and those that
// hold a sidecar-injection webhook.
func webhooksOf(mutating []admissionregistrationv1.MutatingWebhookConfiguration, validating []admissionregistrationv1.ValidatingWebhookConfiguration) []plan.Webhook {
	var out []plan.Webhook
	add := func(kind string, m metav1.ObjectMeta, ccs []admissionregistrationv1.WebhookClientConfig, injectors []plan.InjectorSelectors) {
		w := plan.Webhook{Kind: kind, Name: m.Name, Revision: m.Labels[plan.LabelRevision], Tag: m.Labels[plan.LabelTag], Injectors: injectors}
		istiod := false
		for _, cc := range ccs {
			w.Endpoints = append(w.Endpoints, endpointOf(cc))
			istiod = istiod || (cc.Service != nil && strings.HasPrefix(cc.Service.Name, "istiod"))
		}
		if w.Revision == "" && !istiod && len(injectors) == 0 {
			return
		}
		sort.Strings(w.Endpoints)
		w.Endpoints = slices.Compact(w.Endpoints)
		out = append(out, w)
	}
	for _, wh := range mutating {
		var ccs []admissionregistrationv1.WebhookClientConfig
		var injectors []plan.InjectorSelectors
		for _, w := range wh.Webhooks {
			ccs = append(ccs, w.ClientConfig)
			if strings.HasSuffix(w.Name, injectionWebhookTail) {
				injectors = append(injectors, plan.InjectorSelectors{Name: w.Name,
					NamespaceSelector: selectorString(w.NamespaceSelector), ObjectSelector: selectorString(w.ObjectSelector)})
			}
		}
		add("MutatingWebhookConfiguration", wh.ObjectMeta, ccs, injectors)
	}
	for _, wh := range validating {
		var ccs []admissionregistrationv1.WebhookClientConfig
		for _, w := range wh.Webhooks {
			ccs = append(ccs, w.ClientConfig)
		}
		add("ValidatingWebhookConfiguration", wh.ObjectMeta, ccs, nil)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+"/"+out[i].Name < out[j].Kind+"/"+out[j].Name })
	return out
}

// selectorString is a webhook's label selector in the syntax plan parses;
// a selector that cannot be converted selects nothing.
func selectorString(sel *metav1.LabelSelector) string {
	if sel == nil {
		return ""
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return plan.SelectsNothing
	}
	return s.String()
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
