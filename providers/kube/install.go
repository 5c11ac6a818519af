package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/meshwave/meshwave/plan"
)

// An install step server-side-applies the target revision's manifest
// (field manager meshwave, force: see docs/istio.md for why), after
// recording what it creates and what each object it changes was. A resumed
// install skips what it applied already (plan.AnnotationApplied); its
// rollback deletes what it created and puts back what it changed.
var installOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (plan.Record, error) {
		return p.prepareInstall(ctx, s)
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		return p.install(ctx, s, progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		return p.verifyInstall(ctx, s)
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, progress func(string)) error {
		return p.rollbackInstall(ctx, s, rec, progress)
	},
}

// crdEstablishWait bounds the wait for the kinds a new CRD defines to be
// served.
const crdEstablishWait = time.Minute

// toApply are the objects an install sends, in the order it sends them:
// namespaces and CRDs first (the others may need them), then the
// manifest's order. Objects the plan found as the manifest says are not
// sent.
func toApply(s plan.Step) []plan.ManifestChange {
	var first, rest []plan.ManifestChange
	for _, o := range s.Manifest {
		switch {
		case o.Action == plan.ActionNoop:
		case o.Kind == "Namespace" || o.Kind == plan.KindCRD:
			first = append(first, o)
		default:
			rest = append(rest, o)
		}
	}
	return append(first, rest...)
}

func installedRef(o plan.ManifestChange) plan.InstalledRef {
	return plan.InstalledRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

// refOf is "Kind namespace/name", "Kind name" for a cluster-scoped object.
func refOf(kind, namespace, name string) string {
	if namespace == "" {
		return kind + " " + name
	}
	return kind + " " + namespace + "/" + name
}

// prepareInstall records, before anything is sent, the objects that do not
// exist (the install creates them) and each one that does as it is now,
// without what the API server sets (the install changes it).
func (p *Provider) prepareInstall(ctx context.Context, s plan.Step) (plan.Record, error) {
	var created []plan.InstalledRef
	var previous []json.RawMessage
	for _, o := range toApply(s) {
		ri, err := p.resourceFor(ctx, o.APIVersion, o.Kind, o.Namespace, false)
		if meta.IsNoMatchError(err) {
			// Of a kind a CRD of the manifest defines: none exists yet.
			created = append(created, installedRef(o))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", refOf(o.Kind, o.Namespace, o.Name), err)
		}
		live, err := p.getObject(ctx, ri, o.Name)
		switch {
		case apierrors.IsNotFound(err):
			created = append(created, installedRef(o))
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", refOf(o.Kind, o.Namespace, o.Name), err)
		case appliedAlready(live, o.JSON):
			// Applied by meshwave before this step: nothing to undo.
		default:
			b, err := json.Marshal(withoutServerFields(live.Object))
			if err != nil {
				return nil, fmt.Errorf("record %s: %w", refOf(o.Kind, o.Namespace, o.Name), err)
			}
			previous = append(previous, b)
		}
	}
	return plan.InstallRecord(created, previous)
}

func (p *Provider) getObject(ctx context.Context, ri dynamic.ResourceInterface, name string) (*unstructured.Unstructured, error) {
	var u *unstructured.Unstructured
	err := p.call(ctx, func(ctx context.Context) (err error) {
		u, err = ri.Get(ctx, name, metav1.GetOptions{})
		return err
	})
	return u, err
}

// install applies the step's objects one after another, each once: an
// object that carries the hash of what would be sent was applied by an
// earlier run and is skipped.
func (p *Provider) install(ctx context.Context, s plan.Step, progress func(string)) error {
	objs := toApply(s)
	for i, o := range objs {
		what := refOf(o.Kind, o.Namespace, o.Name)
		sent, err := p.applyManifestObject(ctx, o)
		if err != nil {
			return fmt.Errorf("apply %s: %w", what, err)
		}
		if progress != nil {
			verb := "applied"
			if !sent {
				verb = "applied already"
			}
			progress(fmt.Sprintf("%s %s (%d/%d)", verb, what, i+1, len(objs)))
		}
	}
	return nil
}

// applyManifestObject server-side-applies one object, unless it carries
// the hash of what would be sent; it reports whether it sent it. An object
// of a kind a CRD just created defines waits for the kind to be served.
func (p *Provider) applyManifestObject(ctx context.Context, o plan.ManifestChange) (bool, error) {
	ri, err := p.resourceFor(ctx, o.APIVersion, o.Kind, o.Namespace, false)
	if meta.IsNoMatchError(err) {
		waitCtx, cancel := context.WithTimeout(ctx, crdEstablishWait)
		err = wait.PollUntilContextCancel(waitCtx, p.pollInterval, true, func(ctx context.Context) (bool, error) {
			ri, err = p.resourceFor(ctx, o.APIVersion, o.Kind, o.Namespace, true)
			if meta.IsNoMatchError(err) {
				return false, nil
			}
			return err == nil, err
		})
		cancel()
		if err != nil {
			return false, fmt.Errorf("the cluster does not serve %s %s (is its CRD established?): %w", o.APIVersion, o.Kind, err)
		}
	}
	if err != nil {
		return false, err
	}
	live, err := p.getObject(ctx, ri, o.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	if err == nil && appliedAlready(live, o.JSON) {
		return false, nil
	}
	body, err := applyBody(o.JSON)
	if err != nil {
		return false, err
	}
	err = p.call(ctx, func(ctx context.Context) error {
		_, err := ri.Apply(ctx, o.Name, body, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
		return err
	})
	return err == nil, err
}

// verifyInstall confirms that every object the install sends is in the
// cluster as meshwave applied it.
func (p *Provider) verifyInstall(ctx context.Context, s plan.Step) error {
	for _, o := range toApply(s) {
		ri, err := p.resourceFor(ctx, o.APIVersion, o.Kind, o.Namespace, false)
		if err != nil {
			return fmt.Errorf("%s: %w", refOf(o.Kind, o.Namespace, o.Name), err)
		}
		live, err := p.getObject(ctx, ri, o.Name)
		if err != nil {
			return fmt.Errorf("read %s: %w", refOf(o.Kind, o.Namespace, o.Name), err)
		}
		if !appliedAlready(live, o.JSON) {
			return fmt.Errorf("%s is not as the install applied it (another apply replaced it)", refOf(o.Kind, o.Namespace, o.Name))
		}
	}
	return nil
}

// rollbackInstall deletes what the install created, last first, and puts
// back what it changed, as recorded before it changed anything.
func (p *Provider) rollbackInstall(ctx context.Context, _ plan.Step, rec plan.Record, progress func(string)) error {
	created, err := rec.InstallCreated()
	if err != nil {
		return err
	}
	previous, err := rec.InstallPrevious()
	if err != nil {
		return err
	}
	for _, r := range slices.Backward(created) {
		what := refOf(r.Kind, r.Namespace, r.Name)
		if progress != nil {
			progress("delete " + what)
		}
		if err := p.deleteInstalled(ctx, r); err != nil {
			return fmt.Errorf("delete %s: %w", what, err)
		}
	}
	for _, b := range previous {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return fmt.Errorf("recorded object is unreadable: %w", err)
		}
		what := refOf(u.GetKind(), u.GetNamespace(), u.GetName())
		if progress != nil {
			progress("restore " + what)
		}
		if err := p.restore(ctx, u); err != nil {
			return fmt.Errorf("restore %s: %w", what, err)
		}
	}
	return nil
}

// deleteInstalled deletes one object an install created; one that is gone,
// or whose kind is gone with its CRD, is fine.
func (p *Provider) deleteInstalled(ctx context.Context, r plan.InstalledRef) error {
	ri, err := p.resourceFor(ctx, r.APIVersion, r.Kind, r.Namespace, false)
	if meta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return err
	}
	policy := metav1.DeletePropagationBackground
	err = p.send(ctx, func(ctx context.Context) error {
		return ri.Delete(ctx, r.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// restore puts an object back as recorded: an update of the live object
// with the recorded content (its status aside, which the API server keeps),
// or a create when it was deleted since.
func (p *Provider) restore(ctx context.Context, prev *unstructured.Unstructured) error {
	ri, err := p.resourceFor(ctx, prev.GetAPIVersion(), prev.GetKind(), prev.GetNamespace(), false)
	if err != nil {
		return err
	}
	return p.send(ctx, func(ctx context.Context) error {
		u := prev.DeepCopy()
		live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = ri.Create(ctx, u, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		u.SetResourceVersion(live.GetResourceVersion())
		_, err = ri.Update(ctx, u, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

// An install wait waits until what installs the target says it is
// installed (the flavor's installReconciled: nothing more for a manifest of
// upstream Istio, the Istio resource Available for Backyards), its istiod
// Deployment is Ready (kstatus), and a dry-run pod that selects the
// revision is injected by it (the flavor's installInjects): the new
// revision serves before anything moves to it.
var installWaitOps = stepOps{
	prepare: noRecord,
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		return p.waitInstalled(ctx, s, progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		if err := p.flavor.installReconciled(ctx, p, s); err != nil {
			return err
		}
		_, err := p.flavor.installInjects(ctx, p, s)
		return err
	},
	rollback: func(*Provider, context.Context, plan.Step, plan.Record, func(string)) error { return nil },
}

func (p *Provider) waitInstalled(ctx context.Context, s plan.Step, progress func(string)) error {
	timeout := stepTimeout(s)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.pollInstall(ctx, progress, func(ctx context.Context) error { return p.flavor.installReconciled(ctx, p, s) }); err != nil {
		return fmt.Errorf("revision %s is not installed after %s: %w", s.ToRevision, timeout, err)
	}
	// An operator creates istiod as it reconciles: the wait starts once
	// the watch cache holds it.
	cc, err := p.cache(ctx)
	if err != nil {
		return err
	}
	if err := p.pollInstall(ctx, nil, func(context.Context) error {
		_, err := cc.workloadMeta(s.Object.Kind, s.Object.Namespace, s.Object.Name)
		return err
	}); err != nil {
		return fmt.Errorf("%s %s/%s does not exist after %s: %w", s.Object.Kind, s.Object.Namespace, s.Object.Name, timeout, err)
	}
	if err := p.waitRollouts(ctx, []plan.ObjectRef{*s.Object}, timeout, progress); err != nil {
		return err
	}
	where := ""
	err = p.pollInstall(ctx, progress, func(ctx context.Context) (err error) {
		where, err = p.flavor.installInjects(ctx, p, s)
		return err
	})
	if err != nil {
		return fmt.Errorf("revision %s does not inject after %s: %w", s.ToRevision, timeout, err)
	}
	if progress != nil {
		if where == "" {
			progress(fmt.Sprintf("no namespace selects %s yet: the first restart of each namespace proves its injection with a dry-run pod", s.ToRevision))
		} else {
			progress(fmt.Sprintf("a dry-run pod in %s is injected by %s", where, s.ToRevision))
		}
	}
	return nil
}

// pollInstall calls try until it succeeds or ctx ends, reporting each new
// reason it gives; it returns the last reason when ctx ended.
func (p *Provider) pollInstall(ctx context.Context, progress func(string), try func(context.Context) error) error {
	var last error
	said := ""
	err := wait.PollUntilContextCancel(ctx, p.pollInterval, true, func(ctx context.Context) (bool, error) {
		err := try(ctx)
		if err != nil && ctx.Err() != nil && last != nil {
			// The deadline cut this try short: the reason before stands.
			return false, nil
		}
		last = err
		if last != nil && progress != nil && last.Error() != said {
			said = last.Error()
			progress(said)
		}
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// injectedByRevision asks the API server to create, with dryRun=All, a pod
// in namespace ns labeled istio.io/rev=<to>, and checks that the revision
// injected it.
func (p *Provider) injectedByRevision(ctx context.Context, s plan.Step, ns string) error {
	rev := s.ToRevision
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "meshwave-install-probe-", Namespace: ns,
			Labels: map[string]string{plan.LabelRevision: rev}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}}},
	}
	got, err := p.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return fmt.Errorf("the API server refused a dry-run pod labeled %s=%s in %s: %w", plan.LabelRevision, rev, ns, err)
	}
	f := podFacts(got)
	// The revision the injector recorded, not the label the probe carries.
	injectedBy := plan.PodRevision(nil, got.Annotations)
	switch {
	case f.ProxyImage == "":
		return fmt.Errorf("a dry-run pod labeled %s=%s in %s got no %s container: no injector of %s answers for it (is namespace %s labeled for another revision?)",
			plan.LabelRevision, rev, ns, proxyContainer, rev, ns)
	case injectedBy != rev:
		return fmt.Errorf("a dry-run pod labeled %s=%s in %s was injected by revision %q, not %s", plan.LabelRevision, rev, ns, injectedBy, rev)
	case s.ToImage != "" && f.ProxyImage != s.ToImage:
		return fmt.Errorf("a dry-run pod injected by %s got proxy %s, want %s", rev, f.ProxyImage, s.ToImage)
	}
	return nil
}
