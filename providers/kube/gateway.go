package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// A gateway step moves a gateway to the target revision and waits until its
// pods run the target proxy; it records the revision it found.
var gatewayOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (map[string]string, error) {
		rev, err := p.gatewayRevision(ctx, s.Object)
		if err != nil {
			return nil, err
		}
		return map[string]string{recControlPlane: rev}, nil
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, _ map[string]string, progress func(string)) error {
		if err := p.setGatewayRevision(ctx, s.Object, s.ToRevision); err != nil {
			return err
		}
		return p.waitGateway(ctx, s.Object, s.ToImage, stepTimeout(s), progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ map[string]string) error {
		rev, err := p.gatewayRevision(ctx, s.Object)
		if err != nil {
			return err
		}
		if rev != s.ToRevision {
			return fmt.Errorf("gateway %s/%s runs on %s, want %s", s.Object.Namespace, s.Object.Name, rev, s.ToRevision)
		}
		return nil
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, rec map[string]string, progress func(string)) error {
		if err := p.setGatewayRevision(ctx, s.Object, rec[recControlPlane]); err != nil {
			return err
		}
		return p.waitGateway(ctx, s.Object, s.FromImage, stepTimeout(s), progress)
	},
}

// gatewayRevision reads the revision a gateway belongs to.
func (p *Provider) gatewayRevision(ctx context.Context, obj *plan.ObjectRef) (string, error) {
	if p.flavor == plan.FlavorIstio {
		d, err := p.cs.AppsV1().Deployments(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("read gateway %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		return d.Spec.Template.Labels[plan.LabelRevision], nil
	}
	u, err := p.dyn.Resource(gvrMeshGateway).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read MeshGateway %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	name, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "name")
	ns, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "namespace")
	return config.BackyardsRevision(name, ns), nil
}

// setGatewayRevision moves a gateway to a revision: the MeshGateway's
// spec.istioControlPlane (backyards), or the gateway Deployment's pod
// template istio.io/rev label (istio).
func (p *Provider) setGatewayRevision(ctx context.Context, obj *plan.ObjectRef, rev string) error {
	if p.flavor == plan.FlavorIstio {
		body, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]string{plan.LabelRevision: rev}}}}})
		if _, err := p.cs.AppsV1().Deployments(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("move gateway %s/%s to %s: %w", obj.Namespace, obj.Name, rev, err)
		}
		return nil
	}
	name, ns, ok := config.ParseBackyardsRevision(rev)
	if !ok {
		return fmt.Errorf("move gateway %s/%s: revision %q is not <name>.<namespace>", obj.Namespace, obj.Name, rev)
	}
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"istioControlPlane": map[string]string{
		"name": name, "namespace": ns}}})
	if _, err := p.dyn.Resource(gvrMeshGateway).Namespace(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("move MeshGateway %s/%s to %s: %w", obj.Namespace, obj.Name, rev, err)
	}
	return nil
}

// waitGateway waits until every pod of the gateway runs image and is Ready.
func (p *Provider) waitGateway(ctx context.Context, obj *plan.ObjectRef, image string, timeout time.Duration, progress func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := p.cs.CoreV1().Pods(obj.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labelApp + "=" + obj.Name})
		if err != nil {
			return false, nil
		}
		var ready, total int
		var stale []string
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.DeletionTimestamp != nil {
				stale = append(stale, pod.Name)
				continue
			}
			total++
			f := podFacts(pod)
			if f.ProxyImage != image {
				stale = append(stale, pod.Name)
			} else if f.Ready {
				ready++
			}
		}
		last = fmt.Sprintf("%d/%d gateway pods Ready on %s", ready, total, shortImage(image))
		if progress != nil {
			progress(last)
		}
		return total > 0 && ready == total && len(stale) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("gateway %s/%s did not roll over to %s within %s: %s", obj.Namespace, obj.Name, image, timeout, last)
	}
	return nil
}
