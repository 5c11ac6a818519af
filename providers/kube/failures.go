package kube

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshwave/meshwave/plan"
)

// Pod-creation failures, as the watch cache records them: how a wait knows
// the cluster says a rollout cannot finish.

// createFailure is a controller's report that the API server refused a pod
// it tried to create, in the API server's own words.
type createFailure struct {
	seen    time.Time
	message string
	count   int32
}

// String quotes the API server's message, as the controller reported it.
func (f createFailure) String() string {
	return fmt.Sprintf("%s (%s, %s)", f.message, reasonFailedCreate, times(f.count))
}

// failureWatch times a controller's failure to create pods: one refused pod
// can be a blip, a refusal that persists for the provider's failGrace is
// the cluster saying no. The zero value watches nothing yet.
type failureWatch struct {
	since time.Time // when the wait first saw it failing, while it keeps failing
}

// check reads workload key's failure (one seen after waitStart and not
// cleared by a pod created since): stuck once it has persisted for grace;
// else again is when to look once more though nothing changed (zero: when
// something does).
func (w *failureWatch) check(cc *clusterCache, key string, waitStart, now time.Time, grace time.Duration) (f createFailure, again time.Time, stuck bool) {
	f, failing := cc.failing(key, waitStart)
	if !failing {
		w.since = time.Time{}
		return createFailure{}, time.Time{}, false
	}
	if w.since.IsZero() {
		w.since = now
	}
	if now.Sub(w.since) >= grace {
		return f, time.Time{}, true
	}
	return f, w.since.Add(grace), false
}

// watching says whether a failure is being timed: a wait looks again when
// its grace ends.
func (w *failureWatch) watching() bool { return !w.since.IsZero() }

// failureReported records a FailedCreate event against the workload whose
// controller reported it.
func (c *clusterCache) failureReported(obj any, initial bool) {
	ev, ok := obj.(*corev1.Event)
	if !ok || ev.Reason != reasonFailedCreate {
		return
	}
	io := ev.InvolvedObject
	// Recorded under the object that reported it (a ReplicaSet, say),
	// which the cache may not hold yet; failing resolves it when asked.
	raw := workloadKey(io.Kind, io.Namespace, io.Name)
	f := createFailure{message: ev.Message, count: ev.Count}
	if !initial {
		f.seen = c.now()
	}
	c.mu.Lock()
	if old, ok := c.failed[raw]; !ok || !f.seen.Before(old.seen) {
		c.failed[raw] = f
	}
	c.mu.Unlock()
	c.notify(raw)
	if key := c.ownerKey(io.Namespace, &metav1.OwnerReference{Kind: io.Kind, Name: io.Name}); key != "" {
		c.notify(key)
	}
}

// failing is the failure to create pods of workload key that the cache saw
// after since and that no pod created since has cleared.
func (c *clusterCache) failing(key string, since time.Time) (createFailure, bool) {
	f, created, ok := c.failureOf(key)
	if !ok || f.seen.Before(since) || !created.Before(f.seen) {
		return createFailure{}, false
	}
	return f, true
}

// failedBefore is a failure to create pods of workload key reported before
// since (perhaps in an earlier run): its controller may be backing off.
func (c *clusterCache) failedBefore(key string, since time.Time) (createFailure, bool) {
	f, created, ok := c.failureOf(key)
	return f, ok && f.seen.Before(since) && !created.After(f.seen)
}

// failureOf is the newest failure to create pods reported for workload key
// or for the ReplicaSets it owns, and when the cache last saw one of their
// pods created.
func (c *clusterCache) failureOf(key string) (createFailure, time.Time, bool) {
	sources := c.sources(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	var newest createFailure
	var created time.Time
	found := false
	for _, k := range sources {
		if f, ok := c.failed[k]; ok && (!found || f.seen.After(newest.seen)) {
			newest, found = f, true
		}
		if t := c.created[k]; t.After(created) {
			created = t
		}
	}
	return newest, created, found
}

// sources are the keys a workload's failures and pod creations are
// recorded under: its own, and its ReplicaSets' for a Deployment or a
// Rollout.
func (c *clusterCache) sources(key string) []string {
	out := []string{key}
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 || parts[0] != string(plan.KindDeployment) && parts[0] != string(plan.KindRollout) {
		return out
	}
	kind, ns, name := parts[0], parts[1], parts[2]
	rss, err := c.rss.ReplicaSets(ns).List(labels.Everything())
	if err != nil {
		return out
	}
	for _, rs := range rss {
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.Kind == kind && ref.Name == name {
			out = append(out, workloadKey("ReplicaSet", ns, rs.Name))
		}
	}
	return out
}
