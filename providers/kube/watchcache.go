package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/meshwave/meshwave/plan"
)

// reasonFailedCreate is the reason the ReplicaSet, StatefulSet and DaemonSet
// controllers give an event when the API server refused a pod they create:
// a webhook that does not answer, a quota, a policy.
const reasonFailedCreate = "FailedCreate"

// clusterCache is apply's view of the cluster's workloads, their pods and
// the pods their controllers failed to create: one list and one watch per
// resource type, shared by every step of the run, so a wait costs no
// request and 1,000 namespaces cost what one does. Waits read it and are
// woken when an object they wait on changes (subscribe).
type clusterCache struct {
	factories []informerFactory
	synced    []cache.InformerSynced
	deps      appslisters.DeploymentLister
	stss      appslisters.StatefulSetLister
	dss       appslisters.DaemonSetLister
	rss       appslisters.ReplicaSetLister
	pods      corelisters.PodLister
	// rollouts are Argo Rollouts (watchRollouts); nil when they cannot be
	// watched, for the reason noRollouts.
	rollouts   cache.GenericLister
	noRollouts string
	now        func() time.Time
	stop       context.CancelFunc

	mu   sync.Mutex
	subs map[string]map[*subscription]bool
	// failed is, per workload key, the newest pod-creation failure its
	// controller reported; created, when the cache last saw one of its pods
	// created. Both are times of this process's clock, when the cache saw
	// the change (zero: already there when the cache started), never the
	// cluster's timestamps, which another machine's clock wrote.
	failed  map[string]createFailure
	created map[string]time.Time
	// listErr is the last error of a list or watch, for the message of a
	// wait that ends before the cache is filled (instead of client-go's
	// log lines on stderr).
	listErr error
	// refused is closed when the API server refused a list for good (not
	// allowed, or no such resource): waiting for the cache would not help.
	refused     chan struct{}
	refusedOnce sync.Once
}

// informerFactory is a typed or a dynamic informer factory.
type informerFactory interface {
	Start(stop <-chan struct{})
	Shutdown()
}

// Keys of what a wait can subscribe to.
func workloadKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }
func podsKey(ns string) string                 { return "pods/" + ns }

// newClusterCache builds the cache of p's clients, with Rollouts unless
// noRollouts says why not (rolloutsWatchable); start runs it.
func newClusterCache(p *Provider, noRollouts string) *clusterCache {
	c := &clusterCache{now: p.now, subs: map[string]map[*subscription]bool{},
		failed: map[string]createFailure{}, created: map[string]time.Time{}, refused: make(chan struct{})}
	objects := informers.NewSharedInformerFactoryWithOptions(p.cs, 0, informers.WithTransform(slim))
	// Only the failures: every other event of a large cluster is noise.
	events := informers.NewSharedInformerFactoryWithOptions(p.cs, 0, informers.WithTransform(slim),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "reason=" + reasonFailedCreate }))
	// ReplicaSets are watched as metadata only, what slimReplicaSet keeps:
	// each rollout changes its ReplicaSets' status many times, and their
	// templates would be sent and decoded with every change.
	metas := metadatainformer.NewSharedInformerFactoryWithOptions(p.meta, 0, metadatainformer.WithTransform(slim))
	c.factories = []informerFactory{objects, events, metas}
	apps := objects.Apps().V1()
	rsInf := metas.ForResource(gvrReplicaSets).Informer()
	c.deps, c.stss, c.dss = apps.Deployments().Lister(), apps.StatefulSets().Lister(), apps.DaemonSets().Lister()
	c.rss = appslisters.NewReplicaSetLister(rsInf.GetIndexer())
	c.pods = objects.Core().V1().Pods().Lister()
	for kind, inf := range map[string]cache.SharedIndexInformer{
		string(plan.KindDeployment): apps.Deployments().Informer(), string(plan.KindStatefulSet): apps.StatefulSets().Informer(),
		string(plan.KindDaemonSet): apps.DaemonSets().Informer(),
	} {
		_, _ = inf.AddEventHandler(c.notifyOwn(kind)) // an error means the informer stopped: the cache is being closed
		c.synced = append(c.synced, inf.HasSynced)
	}
	c.synced = append(c.synced, rsInf.HasSynced)
	podInf := objects.Core().V1().Pods().Informer()
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { c.podChanged(obj, !initial) },
		UpdateFunc: func(_, obj any) { c.podChanged(obj, false) },
		DeleteFunc: func(obj any) { c.podChanged(obj, false) },
	})
	c.synced = append(c.synced, podInf.HasSynced)
	evInf := events.Core().V1().Events().Informer()
	_, _ = evInf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { c.failureReported(obj, initial) },
		UpdateFunc: func(_, obj any) { c.failureReported(obj, false) },
	})
	c.synced = append(c.synced, evInf.HasSynced)
	for _, inf := range []cache.SharedIndexInformer{apps.Deployments().Informer(), apps.StatefulSets().Informer(),
		apps.DaemonSets().Informer(), rsInf, podInf, evInf} {
		_ = inf.SetWatchErrorHandlerWithContext(c.watchError) // an error means the informer already started: it cannot have
	}
	if c.noRollouts = noRollouts; noRollouts == "" {
		c.watchRollouts(p)
	}
	return c
}

// notifyOwn wakes the waits on a workload of kind when it changes.
func (c *clusterCache) notifyOwn(kind string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.notify(workloadKey(kind, objNS(obj), objName(obj))) },
		UpdateFunc: func(_, obj any) { c.notify(workloadKey(kind, objNS(obj), objName(obj))) },
		DeleteFunc: func(obj any) { c.notify(workloadKey(kind, objNS(obj), objName(obj))) },
	}
}

// watchError keeps a list's or watch's error for the message of a wait,
// and gives up on the cache when the API server refused it for good.
func (c *clusterCache) watchError(_ context.Context, _ *cache.Reflector, err error) {
	c.mu.Lock()
	c.listErr = err
	c.mu.Unlock()
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) {
		c.refusedOnce.Do(func() { close(c.refused) })
	}
}

// start lists and watches until close.
func (c *clusterCache) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	for _, f := range c.factories {
		f.Start(ctx.Done())
	}
}

// waitSynced waits until the first list of every type is in, or ctx ends.
func (c *clusterCache) waitSynced(ctx context.Context) error {
	stop, done := make(chan struct{}), make(chan struct{})
	defer close(done)
	go func() {
		defer close(stop)
		select {
		case <-ctx.Done():
		case <-c.refused:
		case <-done:
		}
	}()
	if !cache.WaitForCacheSync(stop, c.synced...) {
		c.mu.Lock()
		last := c.listErr
		c.mu.Unlock()
		select {
		case <-c.refused:
			return fmt.Errorf("list the cluster's workloads, pods and pod-creation failures: %w", last)
		default:
		}
		if last != nil {
			return fmt.Errorf("list the cluster's workloads, pods and pod-creation failures: %w (last error: %v)", context.Cause(ctx), last)
		}
		return fmt.Errorf("list the cluster's workloads, pods and pod-creation failures: %w", context.Cause(ctx))
	}
	return nil
}

func (c *clusterCache) close() {
	if c.stop != nil {
		c.stop()
	}
	for _, f := range c.factories {
		f.Shutdown()
	}
}

// podChanged wakes the waits on the pod's namespace and on its workload;
// a pod the cache sees created (not listed at start) clears its workload's
// failure to create pods.
func (c *clusterCache) podChanged(obj any, created bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		if d, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
			c.notify(podsKey(objNS(d.Obj)))
		}
		return
	}
	// Recorded under the pod's own controller (a ReplicaSet, say), which
	// the cache may not hold yet; failing resolves it when asked.
	var raw string
	if ref := metav1.GetControllerOf(pod); ref != nil {
		raw = workloadKey(ref.Kind, pod.Namespace, ref.Name)
		if created {
			c.mu.Lock()
			c.created[raw] = c.now()
			c.mu.Unlock()
		}
	}
	c.notify(podsKey(pod.Namespace))
	if raw != "" {
		c.notify(raw)
	}
	if key := c.ownerKey(pod.Namespace, metav1.GetControllerOf(pod)); key != "" {
		c.notify(key)
	}
}

// ownerKey is the key of the workload a restart acts on for an object
// owned by ref: a ReplicaSet's Deployment or Rollout, a StatefulSet, a
// DaemonSet.
func (c *clusterCache) ownerKey(ns string, ref *metav1.OwnerReference) string {
	if ref == nil {
		return ""
	}
	switch ref.Kind {
	case "ReplicaSet":
		if rs, err := c.rss.ReplicaSets(ns).Get(ref.Name); err == nil {
			if dep := metav1.GetControllerOf(rs); dep != nil && dep.Kind == string(plan.KindDeployment) {
				return workloadKey(dep.Kind, ns, dep.Name)
			}
			if ro := metav1.GetControllerOf(rs); ro != nil && isArgoRollout(ro.APIVersion, ro.Kind) {
				return workloadKey(ro.Kind, ns, ro.Name)
			}
			return ""
		}
		// The event can come before the ReplicaSet reaches the cache: a
		// ReplicaSet is named after its Deployment and a template hash.
		if i := strings.LastIndex(ref.Name, "-"); i > 0 {
			if _, err := c.deps.Deployments(ns).Get(ref.Name[:i]); err == nil {
				return workloadKey(string(plan.KindDeployment), ns, ref.Name[:i])
			}
		}
		return ""
	case string(plan.KindDeployment), string(plan.KindStatefulSet), string(plan.KindDaemonSet):
		return workloadKey(ref.Kind, ns, ref.Name)
	}
	return ""
}

// podsOf are the live pods of namespace ns that match sel: observed, as the
// snapshot's (neither being deleted nor finished).
func (c *clusterCache) podsOf(ns string, sel labels.Selector) ([]corev1.Pod, error) {
	ptrs, err := c.pods.Pods(ns).List(sel)
	if err != nil {
		return nil, err
	}
	out := make([]corev1.Pod, 0, len(ptrs))
	for _, p := range ptrs {
		if observed(p) {
			out = append(out, *p)
		}
	}
	return out, nil
}

// namespacePods are namespace ns's live pods and its ReplicaSets (which
// tell a Deployment's pods).
func (c *clusterCache) namespacePods(ns string) ([]corev1.Pod, []appsv1.ReplicaSet, error) {
	pods, err := c.podsOf(ns, labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	rss, err := c.replicaSetsOf(ns)
	if err != nil {
		return nil, nil, err
	}
	return pods, rss, nil
}

// replicaSetsOf are namespace ns's ReplicaSets.
func (c *clusterCache) replicaSetsOf(ns string) ([]appsv1.ReplicaSet, error) {
	ptrs, err := c.rss.ReplicaSets(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]appsv1.ReplicaSet, 0, len(ptrs))
	for _, rs := range ptrs {
		out = append(out, *rs)
	}
	return out, nil
}

func objNS(obj any) string {
	if m, err := metaOf(obj); err == nil {
		return m.GetNamespace()
	}
	return ""
}

func objName(obj any) string {
	if m, err := metaOf(obj); err == nil {
		return m.GetName()
	}
	return ""
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}

// slim drops from a cached object what no wait reads: managed fields and
// kubectl's copy of the last applied object (most of an object's bytes),
// and of a pod everything but its identity, owner, containers' names and
// images, and readiness.
func slim(obj any) (any, error) {
	m, err := metaOf(obj)
	if err != nil {
		return obj, nil
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
		delete(a, corev1.LastAppliedConfigAnnotation)
		m.SetAnnotations(a)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return slimPod(o), nil
	case *metav1.PartialObjectMetadata:
		// Only ReplicaSets are watched as metadata; the cache holds them
		// as the typed ReplicaSets its lister reads.
		return slimReplicaSet(&o.ObjectMeta), nil
	}
	return obj, nil
}

// slimReplicaSet is what meshwave reads of a ReplicaSet, from its
// metadata m: its owner, name and revision (workloadsOf, newestReplicaSet,
// sources). Its template, as large as a pod's, and its status are not
// kept, in the watch cache nor in a plan's snapshot.
func slimReplicaSet(m *metav1.ObjectMeta) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: *m}
}

// slimPod is what meshwave reads of a pod (podFacts): its metadata, its
// proxy container's name, image and restart policy, its phase and whether
// it is Ready. The rest (the application's containers, environment,
// volumes, probes, most of a pod's bytes) is not kept, in the watch cache
// nor in a plan's snapshot.
func slimPod(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{ObjectMeta: pod.ObjectMeta}
	out.Spec.Containers = proxyContainers(pod.Spec.Containers)
	out.Spec.InitContainers = proxyContainers(pod.Spec.InitContainers)
	out.Status.Phase = pod.Status.Phase
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			out.Status.Conditions = append(out.Status.Conditions, corev1.PodCondition{Type: cond.Type, Status: cond.Status})
		}
	}
	return out
}

// proxyContainers are the names, images and restart policies of the
// proxy containers of cs.
func proxyContainers(cs []corev1.Container) []corev1.Container {
	var out []corev1.Container
	for _, c := range cs {
		if c.Name == proxyContainer {
			out = append(out, corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy})
		}
	}
	return out
}
