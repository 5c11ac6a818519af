package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// An uninstall step removes the old control plane once nothing uses it; it
// records the uid of the installing object and cannot be rolled back.
var uninstallOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (plan.Record, error) {
		obj := s.Object
		if obj.Name == "" {
			return plan.UninstallRecord(""), nil
		}
		u, err := p.installingObject(ctx, obj)
		if apierrors.IsNotFound(err) {
			return plan.UninstallRecord(""), nil
		}
		if err != nil {
			return nil, err
		}
		return plan.UninstallRecord(string(u.GetUID())), nil
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		return p.uninstall(ctx, s, progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		obj := s.Object
		if obj == nil || obj.Name == "" {
			return nil
		}
		_, err := p.installingObject(ctx, obj)
		if err == nil {
			return fmt.Errorf("%s %s/%s still exists", obj.Kind, obj.Namespace, obj.Name)
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	},
	rollback: func(_ *Provider, _ context.Context, s plan.Step, _ plan.Record, _ func(string)) error {
		return fmt.Errorf("%s %s/%s was uninstalled; reinstall it to roll back", s.Object.Kind, s.Object.Namespace, s.Object.Name)
	},
}

// installingObject reads the object that installed a control plane.
func (p *Provider) installingObject(ctx context.Context, obj *plan.ObjectRef) (*unstructured.Unstructured, error) {
	var u *unstructured.Unstructured
	err := p.call(ctx, func(ctx context.Context) (err error) {
		u, err = p.dyn.Resource(gvrForKind(obj.Kind)).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	return u, nil
}

// uninstall re-checks on the live cluster that nothing but the old istiod
// uses the old revision (the plan's MW015 rule), deletes the control plane's
// installing object and the objects the plan listed, and waits for its
// istiod to go.
func (p *Provider) uninstall(ctx context.Context, step plan.Step, progress func(string)) error {
	obj, rev := step.Object, step.FromRevision
	users, err := p.RevisionUsers(ctx, rev)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("refusing to uninstall %s: still used by %s", rev, strings.Join(users, ", "))
	}
	// An empty name means the object is gone already and only its istiod
	// is left to wait for.
	if obj.Name != "" && !slices.Contains(step.Objects, *obj) {
		if err := p.deleteObject(ctx, *obj); err != nil {
			return err
		}
	}
	for _, o := range step.Objects {
		if progress != nil {
			progress(fmt.Sprintf("delete %s %s", o.Kind, strings.TrimPrefix(o.Namespace+"/"+o.Name, "/")))
		}
		if err := p.deleteObject(ctx, o); err != nil {
			return err
		}
	}
	return p.waitIstiodGone(ctx, step, progress)
}

// waitIstiodGone waits until no istiod pod of the step's old revision is
// left. A failed read is read again at the next poll, until the timeout.
func (p *Provider) waitIstiodGone(ctx context.Context, step plan.Step, progress func(string)) error {
	obj, rev := step.Object, step.FromRevision
	ctx, cancel := context.WithTimeout(ctx, stepTimeout(step))
	defer cancel()
	var readErr error
	err := wait.PollUntilContextCancel(ctx, p.pollInterval, true, func(ctx context.Context) (bool, error) {
		pods, err := p.cs.CoreV1().Pods(obj.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labelApp + "=istiod," + plan.LabelRevision + "=" + rev})
		if readErr = err; err != nil {
			return false, nil
		}
		if progress != nil {
			progress(fmt.Sprintf("%d istiod pod(s) of %s left", len(pods.Items), rev))
		}
		return len(pods.Items) == 0, nil
	})
	if err != nil && readErr != nil {
		return fmt.Errorf("istiod of %s: list its pods after deleting %s %s/%s: %w", rev, obj.Kind, obj.Namespace, obj.Name, readErr)
	}
	if err != nil {
		return fmt.Errorf("istiod of %s still running after deleting %s %s/%s", rev, obj.Kind, obj.Namespace, obj.Name)
	}
	return nil
}

// deleteObject deletes one object of a control plane; one that is gone
// already is fine. The objects of a revision go in the foreground, as
// istioctl deletes them, so their dependents go first; an installing
// resource (Istio, IstioOperator) in the background, so its operator sees
// it gone at once and removes what it installed.
func (p *Provider) deleteObject(ctx context.Context, o plan.ObjectRef) error {
	gvr := gvrForKind(o.Kind)
	if gvr.Resource == "" {
		return fmt.Errorf("delete %s %s/%s: meshwave does not know that kind", o.Kind, o.Namespace, o.Name)
	}
	policy := metav1.DeletePropagationForeground
	if o.Kind == "Istio" || o.Kind == "IstioOperator" {
		policy = metav1.DeletePropagationBackground
	}
	var ri dynamic.ResourceInterface = p.dyn.Resource(gvr)
	if o.Namespace != "" {
		ri = p.dyn.Resource(gvr).Namespace(o.Namespace)
	}
	err := p.send(ctx, func(ctx context.Context) error {
		return ri.Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s/%s: %w", o.Kind, o.Namespace, o.Name, err)
	}
	return nil
}

// RevisionUsers re-reads the cluster and lists what still uses revision rev,
// by the same rule the plan's MW015 check applies (plan.RevisionUsers). The
// uninstall re-checks with it before it deletes anything, and the executor
// (executor.UsersReader) before it starts an uninstall that waits for manual
// follow-up.
func (p *Provider) RevisionUsers(ctx context.Context, rev string) ([]string, error) {
	objs, err := p.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("re-check the users of %s: %w", rev, err)
	}
	return usersOf(p.flavor, objs, rev), nil
}

// usersOf applies the plan's rule to freshly read objects: nothing is left
// to move by then, so the cluster itself must show no user.
func usersOf(fl flavor, objs *clusterObjects, rev string) []string {
	snap := snapshotOf(fl, &config.Config{}, objs)
	cp := plan.ControlPlane{Revision: rev}
	for _, c := range snap.ControlPlanes {
		if c.Revision == rev {
			cp = c
		}
	}
	return plan.RevisionUsers(snap, cp, plan.Move{})
}
