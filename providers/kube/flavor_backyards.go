package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
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
