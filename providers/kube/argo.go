package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/meshwave/meshwave/plan"
)

// Argo Rollouts' Rollout: a Deployment-like workload whose controller owns
// its ReplicaSets. A restart sets spec.restartAt, as `kubectl argo rollouts
// restart` does; the controller then evicts, a few at a time, every pod
// created before that time, and writes the time to status.restartedAt once
// none is left.
var gvrRollout = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// Rollout phases (status.phase), as the controller computes them since
// Argo Rollouts 1.0.
const (
	argoPhaseHealthy  = "Healthy"
	argoPhaseDegraded = "Degraded"
	argoPhasePaused   = "Paused"
)

// isArgoRollout says whether an owner reference or object kind names an
// Argo Rollout (another group may have a kind named Rollout).
func isArgoRollout(apiVersion, kind string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == gvrRollout.Group && kind == string(plan.KindRollout)
}

// argoRollout is what meshwave reads of a Rollout.
type argoRollout struct {
	namespace, name string
	// template is spec.template; nil when the Rollout takes its template
	// from another object (spec.workloadRef).
	template *corev1.PodTemplateSpec
	facts    plan.RolloutFacts
	// restartAt is spec.restartAt as stored ("" when unset).
	restartAt string
}

// rolloutOf reads a Rollout from the dynamic client's object.
func rolloutOf(u *unstructured.Unstructured) (*argoRollout, error) {
	ro := &argoRollout{namespace: u.GetNamespace(), name: u.GetName(),
		facts: plan.RolloutFacts{Kind: plan.KindRollout, Name: u.GetName()}}
	ro.restartAt, _, _ = unstructured.NestedString(u.Object, "spec", "restartAt")
	paused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused")
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	ro.facts.Paused = paused || phase == argoPhasePaused
	if ref, ok, _ := unstructured.NestedMap(u.Object, "spec", "workloadRef"); ok {
		kind, _ := ref["kind"].(string)
		name, _ := ref["name"].(string)
		ro.facts.TemplateRef = kind + " " + name
		return ro, nil
	}
	if t, ok, _ := unstructured.NestedMap(u.Object, "spec", "template"); ok {
		ro.template = &corev1.PodTemplateSpec{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(t, ro.template); err != nil {
			return nil, fmt.Errorf("Rollout %s/%s: spec.template: %w", ro.namespace, ro.name, err)
		}
	}
	return ro, nil
}

// rolloutsOf reads the listed Rollouts by namespace/name; one that cannot
// be read is left out, so its pods are a Rollout's without its facts.
func rolloutsOf(items []unstructured.Unstructured) map[string]*argoRollout {
	out := map[string]*argoRollout{}
	for i := range items {
		if ro, err := rolloutOf(&items[i]); err == nil {
			out[ro.namespace+"/"+ro.name] = ro
		}
	}
	return out
}

// getRollout reads a Rollout from the API server.
func (p *Provider) getRollout(ctx context.Context, obj *plan.ObjectRef) (*argoRollout, error) {
	var ro *argoRollout
	err := p.call(ctx, func(ctx context.Context) error {
		u, err := p.dyn.Resource(gvrRollout).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ro, err = rolloutOf(u) // not an API error: not sent again
		return err
	})
	return ro, err
}

// argoRestartAt is the spec.restartAt a restart recorded at value sends:
// value rounded up to the whole second. The controller keeps pods created
// at restartAt or later and compares spec.restartAt with the whole-second
// status.restartedAt it writes back, so a fraction would make it restart
// forever; rounding down would spare a pod created in that second before
// the restart.
func argoRestartAt(value string) (string, error) {
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return "", fmt.Errorf("recorded restartedAt %q is not a time: %w", value, err)
	}
	if f := t.Truncate(time.Second); !f.Equal(t) {
		t = f.Add(time.Second)
	}
	return t.UTC().Format(time.RFC3339), nil
}

// restartRollout sets a Rollout's spec.restartAt from the recorded value;
// sending the same value again changes nothing.
func (p *Provider) restartRollout(ctx context.Context, obj *plan.ObjectRef, value string) error {
	at, err := argoRestartAt(value)
	if err != nil {
		return fmt.Errorf("restart %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"restartAt": at}})
	if err != nil {
		return err
	}
	err = p.send(ctx, func(ctx context.Context) error {
		_, err := p.dyn.Resource(gvrRollout).Namespace(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("restart %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	return nil
}

// verifyRolloutRestart checks that a Rollout still holds the restartAt the
// restart recorded at value sent.
func (p *Provider) verifyRolloutRestart(ctx context.Context, obj *plan.ObjectRef, value string) error {
	want, err := argoRestartAt(value)
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	ro, err := p.getRollout(ctx, obj)
	if err != nil {
		return fmt.Errorf("read %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	if !sameTime(ro.restartAt, want) {
		return fmt.Errorf("%s %s/%s: spec.restartAt is %q, want %q", obj.Kind, obj.Namespace, obj.Name, ro.restartAt, want)
	}
	return nil
}

// sameTime says whether two RFC 3339 times are the same instant.
func sameTime(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.Equal(tb)
}

// rolloutStatus is a workload's rollout status: kstatus's rules, which
// have none for a Rollout, and argoRolloutStatus for one.
func rolloutStatus(u *unstructured.Unstructured) (*status.Result, error) {
	if isArgoRollout(u.GetAPIVersion(), u.GetKind()) {
		return argoRolloutStatus(u)
	}
	return status.Compute(u)
}

// argoRolloutStatus is a restarted Rollout's status, the way `kubectl argo
// rollouts status` decides it (the controller's status.phase, once it has
// observed the current generation), and the restart finished: current when
// Healthy with status.restartedAt at spec.restartAt (every pod is newer
// than it); failed when Degraded (an abort, a progress deadline, an
// invalid spec), quoting the controller's message; in progress otherwise,
// Paused included (promoting it is a person's call).
func argoRolloutStatus(u *unstructured.Unstructured) (*status.Result, error) {
	inProgress := func(msg string) (*status.Result, error) {
		return &status.Result{Status: status.InProgressStatus, Message: msg}, nil
	}
	// observedGeneration is a string in Rollout's status (it held a hash
	// before Argo Rollouts 0.10); one that is not a number says nothing.
	observed, _, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "observedGeneration")
	if n, err := strconv.ParseInt(fmt.Sprint(observed), 10, 64); err == nil && n < u.GetGeneration() {
		return inProgress(fmt.Sprintf("Rollout generation %d not observed yet (observed %d)", u.GetGeneration(), n))
	}
	ctlPause, _, _ := unstructured.NestedBool(u.Object, "status", "controllerPause")
	pauses, _, _ := unstructured.NestedSlice(u.Object, "status", "pauseConditions")
	if ctlPause && len(pauses) == 0 {
		return inProgress("Rollout is being resumed")
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
	withMsg := phase
	if msg != "" {
		withMsg += ": " + msg
	}
	if phase == argoPhaseDegraded {
		return &status.Result{Status: status.FailedStatus, Message: "Rollout is " + withMsg}, nil
	}
	want, _, _ := unstructured.NestedString(u.Object, "spec", "restartAt")
	got, _, _ := unstructured.NestedString(u.Object, "status", "restartedAt")
	if want == "" {
		return inProgress("Rollout has no spec.restartAt yet")
	}
	if !restartedSince(got, want) {
		return inProgress("Rollout is replacing the pods created before the restart")
	}
	switch phase {
	case argoPhaseHealthy:
		return &status.Result{Status: status.CurrentStatus, Message: "Rollout is Healthy, its pods restarted"}, nil
	case "":
		return inProgress("Rollout has no phase yet")
	}
	return inProgress("Rollout is " + withMsg)
}

// restartedSince says whether status.restartedAt (got) is at or after
// spec.restartAt (want).
func restartedSince(got, want string) bool {
	tg, errG := time.Parse(time.RFC3339Nano, got)
	tw, errW := time.Parse(time.RFC3339Nano, want)
	return errG == nil && errW == nil && !tg.Before(tw)
}

// rolloutsWatchable says whether the watch cache can watch Rollouts: their
// CRD is installed and the caller may list and watch them cluster-wide;
// else why not. The cache leaves them out then: a list of a resource the
// server does not serve or refuses would never sync, and would hold every
// wait of a run that restarts no Rollout.
func (p *Provider) rolloutsWatchable(ctx context.Context) (string, error) {
	served, err := p.rolloutsServed(ctx)
	if err != nil || !served {
		return fmt.Sprintf("the API server does not serve %s (Argo Rollouts' CRD is not installed)", gvrRollout.GroupResource()), err
	}
	for _, verb := range []string{"list", "watch"} {
		// The watches are this process's: ask about the caller.
		ok, err := p.canI(ctx, plan.Identity{}, verb, gvrRollout.Group, gvrRollout.Resource, "")
		if err != nil {
			return "", err
		}
		if !ok {
			return fmt.Sprintf("not allowed to %s %s cluster-wide", verb, gvrRollout.GroupResource()), nil
		}
	}
	return "", nil
}

// rolloutsServed says whether the API server serves Rollouts: their CRD is
// installed.
func (p *Provider) rolloutsServed(ctx context.Context) (bool, error) {
	var list *metav1.APIResourceList
	err := p.call(ctx, func(ctx context.Context) (err error) {
		list, err = p.cs.Discovery().ServerResourcesForGroupVersion(gvrRollout.GroupVersion().String())
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("discover %s: %w", gvrRollout.GroupVersion(), err)
	}
	if list == nil {
		return false, nil
	}
	for _, r := range list.APIResources {
		if r.Name == gvrRollout.Resource {
			return true, nil
		}
	}
	return false, nil
}

// watchRollouts adds Rollouts to the watch cache, through the dynamic
// client (meshwave does not link Argo's types).
func (c *clusterCache) watchRollouts(p *Provider) {
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(p.dyn, 0, metav1.NamespaceAll, nil)
	gi := f.ForResource(gvrRollout)
	inf := gi.Informer()
	_ = inf.SetTransform(func(obj any) (any, error) { return slim(obj) }) // an error means the informer already started: it cannot have
	_, _ = inf.AddEventHandler(c.notifyOwn(string(plan.KindRollout)))
	_ = inf.SetWatchErrorHandlerWithContext(c.watchError)
	c.synced = append(c.synced, inf.HasSynced)
	c.rollouts = gi.Lister()
	c.factories = append(c.factories, f)
}

// rollout is a Rollout from the cache.
func (c *clusterCache) rollout(ns, name string) (*unstructured.Unstructured, error) {
	if c.rollouts == nil {
		return nil, fmt.Errorf("Rollouts are not watched: %s", c.noRollouts)
	}
	obj, err := c.rollouts.ByNamespace(ns).Get(name)
	if err != nil {
		return nil, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("cached Rollout %s/%s is a %T", ns, name, obj)
	}
	return u.DeepCopy(), nil
}
