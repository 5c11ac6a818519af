package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/meshwave/meshwave/plan"
)

// annoRetriedAt is set on a workload's controller-owned object to make its
// controller try again at once to create the pods it failed to create (see
// nudge).
const annoRetriedAt = "meshwave.io/retried-at"

// waitRollouts waits until every workload's rollout is complete by kstatus's
// rules (observed generation, updated/ready/available replicas), read from
// the run's watch cache as the cluster reports changes. It stops as soon as
// the cluster says a rollout cannot finish: its progress deadline passed
// during the wait, or its controller has kept failing to create pods for
// failGrace, quoting the API server's message.
func (p *Provider) waitRollouts(ctx context.Context, workloads []plan.ObjectRef, timeout time.Duration, progress func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc, err := p.cache(ctx)
	if err != nil {
		return fmt.Errorf("%s not finished within %s: %w", rolloutsWhat(workloads), timeout, err)
	}
	since := p.now()
	waits := map[string]*rolloutWait{}
	keys := make([]string, 0, len(workloads))
	for _, w := range workloads {
		if _, ok := workloadGVK[w.Kind]; !ok {
			return fmt.Errorf("%s %s/%s: cannot wait for this kind", w.Kind, w.Namespace, w.Name)
		}
		k := workloadKey(w.Kind, w.Namespace, w.Name)
		waits[k] = &rolloutWait{ref: w, first: true}
		keys = append(keys, k)
	}
	sub := cc.subscribe(keys)
	defer sub.close()
	dirty := map[string]bool{}
	for _, k := range keys {
		dirty[k] = true
	}
	quiet := time.Now().Add(p.recheckAfter)
	for {
		recheck := quiet
		for k := range dirty {
			rw, ok := waits[k]
			if !ok {
				continue
			}
			done, again, err := p.evalRollout(ctx, cc, rw, since, progress)
			if err != nil {
				return err
			}
			if done {
				delete(waits, k)
				continue
			}
			if !again.IsZero() && again.Before(recheck) {
				recheck = again
			}
		}
		if len(waits) == 0 {
			return nil
		}
		woken, err := sleepUntil(ctx, sub, recheck)
		if err != nil {
			return notFinished(ctx, waits, timeout)
		}
		dirty = woken
		if dirty != nil {
			quiet = time.Now().Add(p.recheckAfter)
			for k := range dirty {
				if rw, ok := waits[k]; ok {
					rw.fresh = nil // the cache has news of it
				}
			}
			continue
		}
		dirty = map[string]bool{}
		for k, rw := range waits {
			if rw.failing.watching() || !rw.staleSince.IsZero() {
				dirty[k] = true
			}
		}
		if !time.Now().Before(quiet) {
			if err := p.recheckRollouts(ctx, cc, waits, dirty, progress); err != nil {
				return err
			}
			quiet = time.Now().Add(p.recheckAfter)
		}
	}
}

// recheckRollouts reads each workload still rolling from the API server,
// after the watch cache said nothing of them for recheckAfter: one whose
// object differs from the cache's (a change the watch missed) is read from
// what the server said, until the cache has news of it, and marked dirty.
func (p *Provider) recheckRollouts(ctx context.Context, cc *clusterCache, waits map[string]*rolloutWait, dirty map[string]bool, progress func(string)) error {
	for k, rw := range waits {
		w := rw.ref
		obj, err := p.getWorkload(ctx, w.Kind, w.Namespace, w.Name)
		if err != nil {
			return fmt.Errorf("rollout of %s %s/%s: read the %s: %w", w.Kind, w.Namespace, w.Name, w.Kind, err)
		}
		// Compared before kstatus's conversion, which most rechecks (the
		// cache was right) do not need.
		fm, err := metaOf(obj)
		if err != nil {
			return fmt.Errorf("rollout of %s %s/%s: %w", w.Kind, w.Namespace, w.Name, err)
		}
		cached, err := cc.workloadMeta(w.Kind, w.Namespace, w.Name)
		if err == nil && cached.GetResourceVersion() == fm.GetResourceVersion() {
			continue
		}
		fresh, err := asWorkload(w.Kind, obj)
		if err != nil {
			return fmt.Errorf("rollout of %s %s/%s: %w", w.Kind, w.Namespace, w.Name, err)
		}
		if progress != nil {
			progress(fmt.Sprintf("%s/%s: the API server shows what the watch did not (resourceVersion %s)", w.Namespace, w.Name, fresh.GetResourceVersion()))
		}
		rw.fresh = fresh
		dirty[k] = true
	}
	return nil
}

// sleepUntil waits for a change of what sub watches (and returns what
// changed), for the time at (nil: no change, at came), or for ctx to end.
func sleepUntil(ctx context.Context, sub *subscription, at time.Time) (map[string]bool, error) {
	var timer <-chan time.Time
	if !at.IsZero() {
		t := time.NewTimer(time.Until(at))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-sub.C:
		return sub.changed(), nil
	case <-timer:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// rolloutWait is what a wait knows of one workload's rollout.
type rolloutWait struct {
	ref   plan.ObjectRef
	first bool
	// last is the rollout's last status, for progress and for the error
	// when the wait runs out of time.
	last string
	// staleSince is set when the rollout was already failed by its
	// progress deadline as the wait began (an earlier run's failure): its
	// controller is asked to retry, and the failure stands only if the
	// rollout has made no progress failGrace later.
	staleSince time.Time
	// failing times the controller's failure to create pods.
	failing failureWatch
	// fresh, when set, is the workload as the API server showed it when
	// the watch cache held an older one (recheckRollouts): read instead of
	// the cache's until the cache has news of it.
	fresh *unstructured.Unstructured
	// computed is the status of the workload at resourceVersion computedAt:
	// a wait woken by its pods finds the workload mostly unchanged.
	computed   *status.Result
	computedAt string
}

// status is the workload's rollout status, from fresh when set, else from
// the cache; computed again only when the workload changed.
func (rw *rolloutWait) status(cc *clusterCache) (*status.Result, error) {
	if rw.fresh != nil {
		return rolloutStatus(rw.fresh)
	}
	obj, err := cc.cachedWorkload(rw.ref.Kind, rw.ref.Namespace, rw.ref.Name)
	if err != nil {
		return nil, err
	}
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	if rv := m.GetResourceVersion(); rv != "" && rv == rw.computedAt {
		return rw.computed, nil
	}
	u, err := asWorkload(rw.ref.Kind, obj)
	if err != nil {
		return nil, err
	}
	r, err := rolloutStatus(u)
	if err != nil {
		return nil, err
	}
	rw.computed, rw.computedAt = r, m.GetResourceVersion()
	return r, nil
}

// evalRollout reads one rollout from the cache: done, or when to look again
// though nothing changed (zero: when something does), or why it cannot
// finish.
func (p *Provider) evalRollout(ctx context.Context, cc *clusterCache, rw *rolloutWait, since time.Time, progress func(string)) (bool, time.Time, error) {
	w := rw.ref
	r, err := rw.status(cc)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("rollout of %s %s/%s: %w", w.Kind, w.Namespace, w.Name, err)
	}
	key := workloadKey(w.Kind, w.Namespace, w.Name)
	now := p.now()
	if rw.first {
		rw.first = false
		if r.Status == status.FailedStatus {
			rw.staleSince = now
		}
		if f, ok := cc.failedBefore(key, since); (ok || r.Status == status.FailedStatus) && r.Status != status.CurrentStatus {
			p.nudge(ctx, cc, w, f, progress)
		}
	}
	if msg := strings.ToLower(r.Message); msg != rw.last {
		rw.last = msg
		if progress != nil {
			progress(fmt.Sprintf("%s/%s: %s", w.Namespace, w.Name, msg))
		}
	}
	switch {
	case r.Status == status.CurrentStatus:
		return true, time.Time{}, nil
	case r.Status == status.FailedStatus && rw.staleSince.IsZero():
		return false, time.Time{}, fmt.Errorf("rollout of %s %s/%s failed: %s", w.Kind, w.Namespace, w.Name, r.Message)
	case r.Status == status.FailedStatus && now.Sub(rw.staleSince) >= p.failGrace:
		return false, time.Time{}, fmt.Errorf("rollout of %s %s/%s failed: %s (since before this wait; its controller was asked to retry and made no progress)",
			w.Kind, w.Namespace, w.Name, r.Message)
	case r.Status == status.FailedStatus:
		return false, rw.staleSince.Add(p.failGrace), nil
	}
	rw.staleSince = time.Time{}
	f, again, stuck := rw.failing.check(cc, key, since, now, p.failGrace)
	if stuck {
		return false, time.Time{}, fmt.Errorf("rollout of %s %s/%s cannot create pods: %s", w.Kind, w.Namespace, w.Name, f)
	}
	return false, again, nil
}

// nudge makes a controller that failed to create a workload's pods (in an
// earlier run, say) try again now: after repeated failures it waits up to
// minutes before the next try, long after the cause (a webhook that did
// not answer) is gone. Any change to the object it owns requeues it at
// once; an annotation changes no pod. A nudge that fails is reported and
// the wait goes on: the controller retries by itself, only later.
func (p *Provider) nudge(ctx context.Context, cc *clusterCache, w plan.ObjectRef, f createFailure, progress func(string)) {
	kind, name := w.Kind, w.Name
	if w.Kind == string(plan.KindDeployment) || w.Kind == string(plan.KindRollout) {
		rs := cc.newestReplicaSet(w.Namespace, w.Kind, w.Name)
		if rs == nil {
			return
		}
		kind, name = "ReplicaSet", rs.Name
	}
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annoRetriedAt: p.now().UTC().Format(time.RFC3339)}}})
	apps := p.cs.AppsV1()
	err := p.send(ctx, func(ctx context.Context) (err error) {
		switch kind {
		case "ReplicaSet":
			_, err = apps.ReplicaSets(w.Namespace).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
		case string(plan.KindStatefulSet):
			_, err = apps.StatefulSets(w.Namespace).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
		case string(plan.KindDaemonSet):
			_, err = apps.DaemonSets(w.Namespace).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
		}
		return err
	})
	if progress == nil {
		return
	}
	why := "its rollout had stopped"
	if f.message != "" {
		why = "it had failed to create pods: " + f.message
	}
	if err != nil {
		progress(fmt.Sprintf("%s/%s: could not ask the controller to retry now (%v); %s", w.Namespace, w.Name, err, why))
		return
	}
	progress(fmt.Sprintf("%s/%s: asked %s %s to create its pods again now: %s", w.Namespace, w.Name, kind, name, why))
}

// notFinished is the error of a wait whose time ran out, with the last
// status of a rollout still running.
func notFinished(ctx context.Context, waits map[string]*rolloutWait, timeout time.Duration) error {
	if context.Cause(ctx) != context.DeadlineExceeded {
		return context.Cause(ctx)
	}
	var first *rolloutWait
	for _, rw := range waits {
		if first == nil || workloadKey(rw.ref.Kind, rw.ref.Namespace, rw.ref.Name) < workloadKey(first.ref.Kind, first.ref.Namespace, first.ref.Name) {
			first = rw
		}
	}
	w := first.ref
	more := ""
	if len(waits) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(waits)-1)
	}
	return fmt.Errorf("rollout of %s %s/%s not finished within %s%s (last status: %s)", w.Kind, w.Namespace, w.Name, timeout, more, first.last)
}

func rolloutsWhat(ws []plan.ObjectRef) string {
	if len(ws) == 1 {
		return fmt.Sprintf("rollout of %s %s/%s", ws[0].Kind, ws[0].Namespace, ws[0].Name)
	}
	return fmt.Sprintf("%d rollouts", len(ws))
}

func times(n int32) string {
	if n <= 1 {
		return "once"
	}
	return strconv.Itoa(int(n)) + " times"
}

var workloadGVK = map[string]string{
	string(plan.KindDeployment):  "apps/v1",
	string(plan.KindStatefulSet): "apps/v1",
	string(plan.KindDaemonSet):   "apps/v1",
	string(plan.KindRollout):     gvrRollout.GroupVersion().String(),
}

// workloadMeta is a cached workload's metadata, read without converting
// the object for kstatus.
func (c *clusterCache) workloadMeta(kind, ns, name string) (metav1.Object, error) {
	obj, err := c.cachedWorkload(kind, ns, name)
	if err != nil {
		return nil, err
	}
	return metaOf(obj)
}

// cachedWorkload is a workload as the cache holds it: typed, or
// unstructured for an Argo Rollout.
func (c *clusterCache) cachedWorkload(kind, ns, name string) (runtime.Object, error) {
	var obj runtime.Object
	var err error
	switch kind {
	case string(plan.KindDeployment):
		obj, err = c.deps.Deployments(ns).Get(name)
	case string(plan.KindStatefulSet):
		obj, err = c.stss.StatefulSets(ns).Get(name)
	case string(plan.KindDaemonSet):
		obj, err = c.dss.DaemonSets(ns).Get(name)
	case string(plan.KindRollout):
		obj, err = c.rollout(ns, name)
	default:
		return nil, fmt.Errorf("cannot wait for a %s", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("the %s is gone: %w", kind, err)
	}
	return obj, nil
}

// getWorkload GETs a workload from the API server: typed, or unstructured
// for an Argo Rollout.
func (p *Provider) getWorkload(ctx context.Context, kind, ns, name string) (runtime.Object, error) {
	var obj runtime.Object
	apps := p.cs.AppsV1()
	err := p.call(ctx, func(ctx context.Context) (err error) {
		switch kind {
		case string(plan.KindDeployment):
			obj, err = apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		case string(plan.KindStatefulSet):
			obj, err = apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		case string(plan.KindDaemonSet):
			obj, err = apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		case string(plan.KindRollout):
			obj, err = p.dyn.Resource(gvrRollout).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		default:
			err = fmt.Errorf("cannot wait for a %s", kind)
		}
		return err
	})
	return obj, err
}

// asWorkload is a cached or read workload as kstatus reads it.
func asWorkload(kind string, obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(workloadGVK[kind])
	u.SetKind(kind)
	return u, nil
}

// revisionAnnotation is where a ReplicaSet's owner numbers its revisions.
var revisionAnnotation = map[string]string{
	string(plan.KindDeployment): "deployment.kubernetes.io/revision",
	string(plan.KindRollout):    "rollout.argoproj.io/revision",
}

// newestReplicaSet is the ReplicaSet of a Deployment's (or Rollout's)
// latest revision.
func (c *clusterCache) newestReplicaSet(ns, kind, owner string) *appsv1.ReplicaSet {
	rss, err := c.rss.ReplicaSets(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	var best *appsv1.ReplicaSet
	bestRev := -1
	for _, rs := range rss {
		ref := metav1.GetControllerOf(rs)
		if ref == nil || ref.Kind != kind || ref.Name != owner {
			continue
		}
		rev, _ := strconv.Atoi(rs.Annotations[revisionAnnotation[kind]]) // no revision: the oldest
		if rev > bestRev {
			best, bestRev = rs, rev
		}
	}
	return best
}
