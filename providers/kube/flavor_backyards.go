package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// backyards is Banzai Cloud's istio-operator: a control plane is an Istio
// resource, named <name>.<namespace> as a revision, and a gateway is a
// MeshGateway resource that names its control plane.
type backyards struct{}

var _ flavor = backyards{}

// fetch reads nothing more: the Istio and MeshGateway resources are among
// the custom resources every snapshot lists.
func (backyards) fetch(context.Context, *Provider, *clusterObjects) error { return nil }

// controlPlanes reads the Backyards control planes from their Istio
// resources.
func (backyards) controlPlanes(o *clusterObjects) []plan.ControlPlane {
	var cps []plan.ControlPlane
	for _, u := range o.crs[gvrIstio] {
		version := stringField(u.Object, "spec", "version")
		img := stringField(u.Object, "spec", "proxy", "image")
		cp := plan.ControlPlane{Revision: config.BackyardsRevision(u.GetName(), u.GetNamespace()),
			Kind: "Istio", Name: u.GetName(), Namespace: u.GetNamespace(),
			Version: strings.TrimPrefix(version, "v"), ProxyImage: img}
		// The Istio resource's spec is the control plane's settings: the
		// operator renders its mesh config and injection values from it.
		if spec, ok := u.Object["spec"].(map[string]any); ok {
			cp.Settings = plan.SettingsOf(map[string]any{plan.SettingsSpec: spec})
		}
		cps = append(cps, cp)
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Revision < cps[j].Revision })
	return cps
}

// gateways are every MeshGateway, whether the plan names it or not.
func (backyards) gateways(_ *config.Config, o *clusterObjects) []plan.MeshGateway {
	var out []plan.MeshGateway
	for _, u := range o.crs[gvrMeshGateway] {
		out = append(out, meshGatewayOf(u, o.pods))
	}
	return out
}

func meshGatewayOf(u unstructured.Unstructured, pods []corev1.Pod) plan.MeshGateway {
	g := plan.MeshGateway{Name: u.GetName(), Namespace: u.GetNamespace(), ControlPlane: meshGatewayRevision(&u),
		Management: managementOf(&u)}
	if v, found, err := unstructured.NestedBool(u.Object, "spec", "runAsRoot"); found && err == nil {
		g.RunAsRoot = &v
	}
	ports, _, _ := unstructured.NestedSlice(u.Object, "spec", "ports") // not a list: no ports
	for _, raw := range ports {
		m, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		g.Ports = append(g.Ports, plan.GatewayPort{Name: stringField(m, "name"),
			Port: int32(intField(m, "port")), TargetPort: int32(intField(m, "targetPort"))})
	}
	g.Pods = gatewayPods(u.GetNamespace(), u.GetName(), pods)
	return g
}

// meshGatewayRevision is the revision a MeshGateway's spec.istioControlPlane
// names.
func meshGatewayRevision(u *unstructured.Unstructured) string {
	return config.BackyardsRevision(stringField(u.Object, "spec", "istioControlPlane", "name"),
		stringField(u.Object, "spec", "istioControlPlane", "namespace"))
}

func (backyards) gatewayRevision(ctx context.Context, p *Provider, obj *plan.ObjectRef) (string, error) {
	var u *unstructured.Unstructured
	err := p.call(ctx, func(ctx context.Context) (err error) {
		u, err = p.dyn.Resource(gvrMeshGateway).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read MeshGateway %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	return meshGatewayRevision(u), nil
}

// setGatewayRevision sets the MeshGateway's spec.istioControlPlane.
func (backyards) setGatewayRevision(ctx context.Context, p *Provider, obj *plan.ObjectRef, rev string) error {
	name, ns, ok := config.ParseBackyardsRevision(rev)
	if !ok {
		return fmt.Errorf("move gateway %s/%s: revision %q is not <name>.<namespace>", obj.Namespace, obj.Name, rev)
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"istioControlPlane": map[string]string{
		"name": name, "namespace": ns}}})
	if err != nil {
		return fmt.Errorf("move MeshGateway %s/%s to %s: %w", obj.Namespace, obj.Name, rev, err)
	}
	err = p.send(ctx, func(ctx context.Context) error {
		_, err := p.dyn.Resource(gvrMeshGateway).Namespace(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("move MeshGateway %s/%s to %s: %w", obj.Namespace, obj.Name, rev, err)
	}
	return nil
}

func (backyards) gatewayResource() schema.GroupResource { return gvrMeshGateway.GroupResource() }

// uninstallKinds: deleting the Istio resource is the whole uninstall; the
// operator removes what it installed.
func (backyards) uninstallKinds([]plan.ControlPlane) map[string]bool {
	return map[string]bool{"Istio": true}
}

// The install of a Backyards control plane is its Istio resource (the file
// `backyards install -a --istio-cr-file` takes); the operator reconciles it
// into istiod, the istio-operator of its minor and the revision's injection
// webhook, then sets the resource's status to Available.

// istioAvailable is the status.Status the operator sets on an Istio
// resource it reconciled.
const istioAvailable = "Available"

// asInstalled adds the manifest's Istio resources to the Istio resources
// the snapshot reads its control planes from, and for each the injection
// webhook its operator renders, unless the revision has one already: the
// plan's waves see the new revision's injector before it exists.
func (backyards) asInstalled(o *clusterObjects, objs []config.ManifestObject) *clusterObjects {
	out := withManifest(o, objs)
	out.crs = maps.Clone(o.crs)
	if out.crs == nil {
		out.crs = map[schema.GroupVersionResource][]unstructured.Unstructured{}
	}
	istios := slices.Clone(o.crs[gvrIstio])
	for _, m := range objs {
		if m.Kind != "Istio" || m.Group() != gvrIstio.Group {
			continue
		}
		u := unstructured.Unstructured{}
		if u.UnmarshalJSON(m.JSON) != nil {
			continue // the dry run reports it
		}
		mergeUnstructured(&istios, u)
		rev := config.BackyardsRevision(u.GetName(), u.GetNamespace())
		if !slices.ContainsFunc(out.mutating, func(wh admissionregistrationv1.MutatingWebhookConfiguration) bool {
			return wh.Labels[plan.LabelRevision] == rev && hasInjectionWebhook(&wh)
		}) {
			out.mutating = append(out.mutating, backyardsInjector(u.GetName(), u.GetNamespace()))
		}
	}
	out.crs[gvrIstio] = istios
	return out
}

// mergeUnstructured puts u into list in place of the live object of its
// namespace and name (keeping that one's uid and resourceVersion), or at
// the end.
func mergeUnstructured(list *[]unstructured.Unstructured, u unstructured.Unstructured) {
	for i := range *list {
		live := &(*list)[i]
		if live.GetNamespace() == u.GetNamespace() && live.GetName() == u.GetName() {
			u.SetUID(live.GetUID())
			u.SetResourceVersion(live.GetResourceVersion())
			(*list)[i] = u
			return
		}
	}
	*list = append(*list, u)
}

// backyardsInjector is the injection webhook the operator renders for the
// Istio resource name in namespace: it injects the pods of namespaces
// labeled istio.io/rev=<name>.<namespace> (without istio-injection), unless
// the pod opts out.
func backyardsInjector(name, namespace string) admissionregistrationv1.MutatingWebhookConfiguration {
	rev := config.BackyardsRevision(name, namespace)
	return admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-" + name + "-" + namespace,
			Labels: map[string]string{plan.LabelRevision: rev}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: injectionWebhookTail,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: namespace, Name: "istiod-" + name}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: plan.LabelInjection, Operator: metav1.LabelSelectorOpDoesNotExist},
				{Key: plan.LabelRevision, Operator: metav1.LabelSelectorOpIn, Values: []string{rev}},
			}},
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: plan.LabelInjectPod, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}},
			}},
		}},
	}
}

// installReconciled: the Istio resource's status says Available, and the
// operator has created the revision's injection webhook.
func (backyards) installReconciled(ctx context.Context, p *Provider, s plan.Step) error {
	name, ns, ok := config.ParseBackyardsRevision(s.ToRevision)
	if !ok {
		return fmt.Errorf("revision %q is not <name>.<namespace>", s.ToRevision)
	}
	var u *unstructured.Unstructured
	err := p.call(ctx, func(ctx context.Context) (err error) {
		u, err = p.dyn.Resource(gvrIstio).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("Istio %s/%s is not in the cluster", ns, name)
	case err != nil:
		return fmt.Errorf("read Istio %s/%s: %w", ns, name, err)
	}
	if st := stringField(u.Object, "status", "Status"); st != istioAvailable {
		if st == "" {
			st = "not reconciled yet"
		}
		if msg := stringField(u.Object, "status", "ErrorMessage"); msg != "" {
			st += ": " + msg
		}
		return fmt.Errorf("Istio %s/%s is %s (the operator sets %s once istiod and its injector are installed)", ns, name, st, istioAvailable)
	}
	var hooks *admissionregistrationv1.MutatingWebhookConfigurationList
	err = p.call(ctx, func(ctx context.Context) (err error) {
		hooks, err = p.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx,
			metav1.ListOptions{LabelSelector: plan.LabelRevision + "=" + s.ToRevision})
		return err
	})
	if err != nil {
		return fmt.Errorf("list the injection webhooks of %s: %w", s.ToRevision, err)
	}
	for i := range hooks.Items {
		if hasInjectionWebhook(&hooks.Items[i]) {
			return nil
		}
	}
	return fmt.Errorf("Istio %s/%s is %s, but no injection webhook labeled %s=%s exists", ns, name, istioAvailable, plan.LabelRevision, s.ToRevision)
}

// installInjects probes in a namespace labeled istio.io/rev=<to> (without
// istio-injection): the operator's injector selects pods by their
// namespace only, so a pod elsewhere proves nothing. Before the first wave
// relabels one, no namespace is; then the install's wait rests on the
// resource's status and the injector's presence, and the first restart of
// each namespace proves injection with its own dry-run pod before any pod
// is replaced.
func (backyards) installInjects(ctx context.Context, p *Provider, s plan.Step) (string, error) {
	var list *corev1.NamespaceList
	err := p.call(ctx, func(ctx context.Context) (err error) {
		list, err = p.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{
			LabelSelector: plan.LabelRevision + "=" + s.ToRevision + ",!" + plan.LabelInjection})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("list the namespaces labeled %s=%s: %w", plan.LabelRevision, s.ToRevision, err)
	}
	var names []string
	for _, ns := range list.Items {
		if ns.DeletionTimestamp == nil {
			names = append(names, ns.Name)
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	sort.Strings(names)
	return "namespace " + names[0], p.injectedByRevision(ctx, s, names[0])
}
