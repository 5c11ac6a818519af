package kube

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/tools/pager"

	"github.com/meshwave/meshwave/plan"
)

// clusterObjects is what Observe reads, before it is turned into a
// snapshot by snapshotOf.
type clusterObjects struct {
	serverVersion string
	namespaces    []corev1.Namespace
	pods          []corev1.Pod
	replicaSets   []appsv1.ReplicaSet
	deployments   []appsv1.Deployment
	statefulSets  []appsv1.StatefulSet
	daemonSets    []appsv1.DaemonSet
	services      []corev1.Service
	mutating      []admissionregistrationv1.MutatingWebhookConfiguration
	validating    []admissionregistrationv1.ValidatingWebhookConfiguration
	// configMaps are the ConfigMaps labeled with a revision (the injector's
	// values name a revision's hub and tag).
	configMaps []corev1.ConfigMap
	// installed are the objects that make up installed revisions (the
	// UninstallSelector of any revision), by kind.
	installed map[schema.GroupVersionResource][]metav1.PartialObjectMetadata
	crs       map[schema.GroupVersionResource][]unstructured.Unstructured
}

// fetchParallel is how many lists fetch has in flight at once: a plan's
// wall time is mostly waiting for the API server, one list after another.
const fetchParallel = 4

// fetch lists every object a snapshot is made of, fetchParallel lists at a
// time; each list fills its own part of the result.
func (p *Provider) fetch(ctx context.Context) (*clusterObjects, error) {
	o := &clusterObjects{}
	var v *version.Info
	err := p.call(ctx, func(ctx context.Context) (err error) {
		v, err = p.cs.Discovery().ServerVersionWithContext(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read server version: %w", err)
	}
	o.serverVersion = v.GitVersion
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallel)
	for _, l := range p.builtinLists(o) {
		g.Go(func() error {
			pg := pager.New(p.retried(l.fn))
			pg.PageSize = p.pageSize
			if err := pg.EachListItem(gctx, l.opts, keepManagers(l.each)); err != nil {
				return fmt.Errorf("list %s: %w", l.what, err)
			}
			return nil
		})
	}
	// Rollouts are workloads (workloadsOf); the others, a flavor's objects.
	customs := []schema.GroupVersionResource{gvrIstio, gvrMeshGateway, gvrEnvoyFilter, gvrIstioOperator, gvrRollout}
	items := make([][]unstructured.Unstructured, len(customs))
	for i, gvr := range customs {
		g.Go(func() (err error) {
			items[i], err = p.listCustom(gctx, gvr)
			return err
		})
	}
	g.Go(func() error { return p.flavor.fetch(gctx, p, o) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	o.crs = map[schema.GroupVersionResource][]unstructured.Unstructured{}
	for i, gvr := range customs {
		o.crs[gvr] = items[i]
	}
	return o, nil
}

// resourceList is one built-in resource type fetch lists, page by page,
// into clusterObjects.
type resourceList struct {
	what string
	opts metav1.ListOptions
	fn   pager.ListPageFunc
	each func(runtime.Object) error
}

// builtinLists are the built-in resource types a snapshot is made of, each
// listed once, cluster-wide, into o.
func (p *Provider) builtinLists(o *clusterObjects) []resourceList {
	revisioned := metav1.ListOptions{LabelSelector: plan.LabelRevision}
	return []resourceList{
		{"namespaces", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().Namespaces().List(ctx, opts)
		}, func(x runtime.Object) error { o.namespaces = append(o.namespaces, *x.(*corev1.Namespace)); return nil }},
		{"pods", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().Pods("").List(ctx, opts)
		}, func(x runtime.Object) error { o.pods = append(o.pods, *slimPod(x.(*corev1.Pod))); return nil }},
		p.replicaSetList("", func(rs *appsv1.ReplicaSet) { o.replicaSets = append(o.replicaSets, *rs) }),
		{"deployments", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AppsV1().Deployments("").List(ctx, opts)
		}, func(x runtime.Object) error {
			o.deployments = append(o.deployments, *x.(*appsv1.Deployment))
			return nil
		}},
		{"statefulsets", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AppsV1().StatefulSets("").List(ctx, opts)
		}, func(x runtime.Object) error {
			o.statefulSets = append(o.statefulSets, *x.(*appsv1.StatefulSet))
			return nil
		}},
		{"daemonsets", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AppsV1().DaemonSets("").List(ctx, opts)
		}, func(x runtime.Object) error { o.daemonSets = append(o.daemonSets, *x.(*appsv1.DaemonSet)); return nil }},
		{"services", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().Services("").List(ctx, opts)
		}, func(x runtime.Object) error { o.services = append(o.services, *x.(*corev1.Service)); return nil }},
		{"mutatingwebhookconfigurations", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, opts)
		}, func(x runtime.Object) error {
			o.mutating = append(o.mutating, *x.(*admissionregistrationv1.MutatingWebhookConfiguration))
			return nil
		}},
		{"validatingwebhookconfigurations", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, opts)
		}, func(x runtime.Object) error {
			o.validating = append(o.validating, *x.(*admissionregistrationv1.ValidatingWebhookConfiguration))
			return nil
		}},
		{"configmaps", revisioned, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().ConfigMaps("").List(ctx, opts)
		}, func(x runtime.Object) error { o.configMaps = append(o.configMaps, *x.(*corev1.ConfigMap)); return nil }},
	}
}

// gvrReplicaSets is listed as metadata only: what meshwave reads of a
// ReplicaSet is its metadata (slimReplicaSet), and its template, as large
// as a pod's, is then neither sent nor decoded.
var gvrReplicaSets = appsv1.SchemeGroupVersion.WithResource("replicasets")

// replicaSetList lists the ReplicaSets of namespace ns ("" for all) as
// slimReplicaSet keeps them, each handed to each.
func (p *Provider) replicaSetList(ns string, each func(*appsv1.ReplicaSet)) resourceList {
	return resourceList{"replicasets", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return p.meta.Resource(gvrReplicaSets).Namespace(ns).List(ctx, opts)
	}, func(x runtime.Object) error {
		each(slimReplicaSet(&x.(*metav1.PartialObjectMetadata).ObjectMeta))
		return nil
	}}
}

// listCustom lists a custom resource cluster-wide; a resource whose CRD is
// not installed lists as empty.
func (p *Provider) listCustom(ctx context.Context, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	pg := pager.New(p.retried(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return p.dyn.Resource(gvr).Namespace("").List(ctx, o)
	}))
	pg.PageSize = p.pageSize
	err := pg.EachListItem(ctx, metav1.ListOptions{}, keepManagers(func(o runtime.Object) error {
		out = append(out, *o.(*unstructured.Unstructured))
		return nil
	}))
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", gvr.GroupResource(), err)
	}
	return out, nil
}

// readNamespacePods reads namespace ns's live pods and its ReplicaSets from
// the API server, page by page, as clusterCache.namespacePods has them.
func (p *Provider) readNamespacePods(ctx context.Context, ns string) ([]corev1.Pod, []appsv1.ReplicaSet, error) {
	var pods []corev1.Pod
	var rss []appsv1.ReplicaSet
	for _, l := range []resourceList{
		{"pods", metav1.ListOptions{}, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return p.cs.CoreV1().Pods(ns).List(ctx, opts)
		}, func(x runtime.Object) error {
			if pod := x.(*corev1.Pod); observed(pod) {
				pods = append(pods, *pod)
			}
			return nil
		}},
		p.replicaSetList(ns, func(rs *appsv1.ReplicaSet) { rss = append(rss, *rs) }),
	} {
		pg := pager.New(p.retried(l.fn))
		pg.PageSize = p.pageSize
		if err := pg.EachListItem(ctx, l.opts, l.each); err != nil {
			return nil, nil, fmt.Errorf("list %s of namespace %s: %w", l.what, ns, err)
		}
	}
	return pods, rss, nil
}

// retried is a page of a list read with the transient-error policy.
func (p *Provider) retried(list pager.ListPageFunc) pager.ListPageFunc {
	return func(ctx context.Context, opts metav1.ListOptions) (obj runtime.Object, err error) {
		err = p.call(ctx, func(ctx context.Context) error {
			obj, err = list(ctx, opts)
			return err
		})
		return obj, err
	}
}

// keepManagers strips each listed object's managedFields down to the names
// of its field managers (managementOf reads them), before each keeps it:
// the fields they own are most of an object's metadata, and a snapshot
// of every pod in the cluster would hold them all.
func keepManagers(each func(runtime.Object) error) func(runtime.Object) error {
	return func(x runtime.Object) error {
		if m, err := meta.Accessor(x); err == nil {
			m.SetManagedFields(managersOnly(m.GetManagedFields()))
		}
		return each(x)
	}
}

// managersOnly is one entry per field manager, holding its name only.
func managersOnly(fields []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, f := range fields {
		if !slices.ContainsFunc(out, func(e metav1.ManagedFieldsEntry) bool { return e.Manager == f.Manager }) {
			out = append(out, metav1.ManagedFieldsEntry{Manager: f.Manager})
		}
	}
	return out
}

// managementOf is what says whether a GitOps controller manages an object:
// its GitOps marks (plan.GitOpsMarkKeys of its labels and annotations) and
// its field managers.
func managementOf(m metav1.Object) plan.Management {
	var out plan.Management
	for _, k := range plan.GitOpsMarkKeys {
		v, ok := m.GetLabels()[k]
		if !ok {
			v, ok = m.GetAnnotations()[k]
		}
		if ok {
			if out.Marks == nil {
				out.Marks = map[string]string{}
			}
			out.Marks[k] = v
		}
	}
	for _, f := range m.GetManagedFields() {
		if !slices.Contains(out.Managers, f.Manager) {
			out.Managers = append(out.Managers, f.Manager)
		}
	}
	return out
}
