package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// What the cluster says of an install's manifest, and what apply sends of
// it. The step itself is in install.go.

// kindMapper resolves an object's kind to its resource through discovery,
// read once and again after the kinds a new CRD defines appear.
type kindMapper struct {
	mu sync.Mutex
	m  meta.RESTMapper
}

// mapping is the resource of gvk; errNoKind (meta.IsNoMatchError) when the
// cluster does not serve it. fresh re-reads discovery first.
func (p *Provider) mapping(ctx context.Context, gvk schema.GroupVersionKind, fresh bool) (*meta.RESTMapping, error) {
	p.kinds.mu.Lock()
	defer p.kinds.mu.Unlock()
	if p.kinds.m == nil || fresh {
		var groups []*restmapper.APIGroupResources
		err := p.call(ctx, func(context.Context) (err error) {
			groups, err = restmapper.GetAPIGroupResources(p.cs.Discovery())
			if discovery.IsGroupDiscoveryFailedError(err) && len(groups) > 0 {
				// An aggregated API that does not answer (a broken
				// metrics-server) hides its own kinds only.
				return nil
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("discover the cluster's kinds: %w", err)
		}
		p.kinds.m = restmapper.NewDiscoveryRESTMapper(groups)
	}
	return p.kinds.m.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// resourceFor is the client of the resource holding a manifest object.
func (p *Provider) resourceFor(ctx context.Context, apiVersion, kind, namespace string, fresh bool) (dynamic.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	m, err := p.mapping(ctx, gv.WithKind(kind), fresh)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if namespace == "" {
			return nil, noNamespaceError{kind}
		}
		return p.dyn.Resource(m.Resource).Namespace(namespace), nil
	}
	return p.dyn.Resource(m.Resource), nil
}

// noNamespaceError: a namespaced object of the manifest names no
// namespace. meshwave does not guess one.
type noNamespaceError struct{ kind string }

func (e noNamespaceError) Error() string {
	return e.kind + " is namespaced, and the manifest gives it no metadata.namespace"
}

// applyBody is what apply sends for a manifest object: the object marked
// with plan.AnnotationApplied (the hash of the manifest object), without
// the empty caBundle of a webhook, which istiod fills in: sent, it would
// make meshwave an owner of a field istiod keeps writing.
func applyBody(objJSON []byte) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(objJSON); err != nil {
		return nil, err
	}
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[plan.AnnotationApplied] = plan.ManifestHash(objJSON)
	u.SetAnnotations(ann)
	if kind := u.GetKind(); kind == "MutatingWebhookConfiguration" || kind == "ValidatingWebhookConfiguration" {
		hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
		for _, h := range hooks {
			if hm, ok := h.(map[string]any); ok {
				if cc, ok := hm["clientConfig"].(map[string]any); ok && cc["caBundle"] == "" {
					delete(cc, "caBundle")
				}
			}
		}
		if hooks != nil {
			_ = unstructured.SetNestedSlice(u.Object, hooks, "webhooks")
		}
	}
	return u, nil
}

// appliedAlready reports whether live carries the hash of the manifest
// object objJSON: meshwave applied exactly it.
func appliedAlready(live *unstructured.Unstructured, objJSON []byte) bool {
	return live != nil && live.GetAnnotations()[plan.AnnotationApplied] == plan.ManifestHash(objJSON)
}

// serverSet are the fields the API server sets by itself, which no diff
// shows and no restore sends.
var serverSet = [][]string{
	{"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "uid"}, {"metadata", "creationTimestamp"}, {"metadata", "selfLink"},
	{"metadata", "deletionTimestamp"}, {"metadata", "deletionGracePeriodSeconds"}, {"status"},
}

// withoutServerFields is a copy of obj without serverSet.
func withoutServerFields(obj map[string]any) map[string]any {
	out := (&unstructured.Unstructured{Object: obj}).DeepCopy().Object
	for _, f := range serverSet {
		unstructured.RemoveNestedField(out, f...)
	}
	return out
}

// maxFieldChanges bounds the changes kept per object: a CRD's schema may
// change in hundreds of places; the plan says how many more there are.
const maxFieldChanges = 100

// fieldChanges are the fields in which after (a dry-run apply's result)
// differs from before (the live object), by dotted path, sorted; what the
// API server sets by itself and meshwave's own annotation left out.
func fieldChanges(before, after map[string]any) []plan.FieldChange {
	b, a := map[string]string{}, map[string]string{}
	flatten("", withoutServerFields(before), b)
	flatten("", withoutServerFields(after), a)
	own := "metadata.annotations." + plan.AnnotationApplied
	delete(b, own)
	delete(a, own)
	var paths []string
	for k := range a {
		if b[k] != a[k] {
			paths = append(paths, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			paths = append(paths, k)
		}
	}
	sort.Strings(paths)
	var out []plan.FieldChange
	for i, k := range paths {
		if i == maxFieldChanges {
			out = append(out, plan.FieldChange{Path: "…", To: strconv.Itoa(len(paths)-maxFieldChanges) + " more"})
			break
		}
		out = append(out, plan.FieldChange{Path: k, From: b[k], To: a[k]})
	}
	return out
}

// flatten writes v's leaves into out by dotted path ("spec.ports[0].port"),
// each as JSON; an empty map or list is a leaf.
func flatten(path string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) > 0 {
			for k, x := range t {
				p := k
				if path != "" {
					p = path + "." + k
				}
				flatten(p, x, out)
			}
			return
		}
	case []any:
		if len(t) > 0 {
			for i, x := range t {
				flatten(path+"["+strconv.Itoa(i)+"]", x, out)
			}
			return
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprint(v))
	}
	out[path] = string(b)
}

// crdVersions are a live CRD's versions.
func crdVersions(u *unstructured.Unstructured) *plan.CRDVersions {
	v := &plan.CRDVersions{Release: u.GetLabels()[plan.LabelReleaseVersion]}
	versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	for _, x := range versions {
		if m, ok := x.(map[string]any); ok && m["served"] == true {
			if name, ok := m["name"].(string); ok {
				v.Served = append(v.Served, name)
			}
		}
	}
	v.Stored, _, _ = unstructured.NestedStringSlice(u.Object, "status", "storedVersions")
	return v
}

// manifestKinds are the kinds the manifest's CRDs define, by group.
func manifestKinds(objs []config.ManifestObject) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if o.Kind != plan.KindCRD {
			continue
		}
		var crd struct {
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
			} `json:"spec"`
		}
		if json.Unmarshal(o.JSON, &crd) == nil {
			out[schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}] = true
		}
	}
	return out
}

// manifestNamespaces are the namespaces the manifest creates.
func manifestNamespaces(objs []config.ManifestObject) map[string]bool {
	out := map[string]bool{}
	for _, o := range objs {
		if o.Kind == "Namespace" && o.Group() == "" {
			out[o.Name] = true
		}
	}
	return out
}

// observeManifest reads what the cluster says of each object of the
// manifest: whether its kind is served, the live object, and what a
// server-side apply would change in it (a dry run, as kubectl diff asks).
// It also returns the versions of the live objects, for the stale-plan
// check.
func (p *Provider) observeManifest(ctx context.Context, objs []config.ManifestObject) ([]plan.ManifestObjectState, []plan.ObjectVersion, error) {
	defined, creates := manifestKinds(objs), manifestNamespaces(objs)
	states := make([]plan.ManifestObjectState, len(objs))
	var versions []plan.ObjectVersion
	for i, o := range objs {
		st := &states[i]
		ri, err := p.resourceFor(ctx, o.APIVersion, o.Kind, o.Namespace, false)
		switch {
		case meta.IsNoMatchError(err):
			// A kind one of the manifest's CRDs defines is served once
			// the CRD is in; nothing of it exists before.
			st.Served = defined[schema.GroupKind{Group: o.Group(), Kind: o.Kind}]
			continue
		case errors.As(err, new(noNamespaceError)):
			st.Served, st.Refused = true, err.Error()
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("%s: %w", o, err)
		}
		st.Served = true
		var live *unstructured.Unstructured
		err = p.call(ctx, func(ctx context.Context) (err error) {
			live, err = ri.Get(ctx, o.Name, metav1.GetOptions{})
			return err
		})
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return nil, nil, fmt.Errorf("read %s: %w", o, err)
		default:
			st.Exists, st.Labels, st.Applied = true, live.GetLabels(), appliedAlready(live, o.JSON)
			versions = append(versions, plan.ObjectVersion{ObjectRef: plan.ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name},
				UID: string(live.GetUID()), ResourceVersion: live.GetResourceVersion()})
			if o.Kind == plan.KindCRD {
				st.CRD = crdVersions(live)
			}
		}
		if st.Applied {
			continue
		}
		body, err := applyBody(o.JSON)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o, err)
		}
		var dry *unstructured.Unstructured
		err = p.call(ctx, func(ctx context.Context) (err error) {
			dry, err = ri.Apply(ctx, o.Name, body, metav1.ApplyOptions{FieldManager: fieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
			return err
		})
		switch {
		case err == nil:
			if live != nil {
				st.Changes = fieldChanges(live.Object, dry.Object)
			}
		case apierrors.IsNotFound(err) && live == nil && creates[o.Namespace]:
			// Its namespace is created by the manifest: nothing to dry-run against yet.
		case refusedByServer(err):
			st.Refused = err.Error()
		default:
			return nil, nil, fmt.Errorf("dry-run apply %s: %w", o, err)
		}
	}
	return states, versions, nil
}

// refusedByServer reports whether err is the API server's answer about the
// object (invalid, forbidden by admission, its namespace missing) rather
// than a failure to ask.
func refusedByServer(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsNotFound(err) ||
		apierrors.IsForbidden(err) || apierrors.IsConflict(err) || apierrors.IsInternalError(err)
}

// withManifest is o with the manifest's objects a snapshot reads (the
// istiod Deployments, Services, ConfigMaps and webhooks) as they will be
// once applied, so the plan is computed against the cluster after the
// install: the new revision's control plane and injectors among the
// others. A live object keeps its uid and resourceVersion, which the
// stale-plan check compares.
func withManifest(o *clusterObjects, objs []config.ManifestObject) *clusterObjects {
	out := *o
	out.deployments = slices.Clone(o.deployments)
	out.services = slices.Clone(o.services)
	out.configMaps = slices.Clone(o.configMaps)
	out.mutating = slices.Clone(o.mutating)
	out.validating = slices.Clone(o.validating)
	for _, m := range objs {
		switch {
		case m.Kind == "Deployment" && m.APIVersion == "apps/v1":
			merge(&out.deployments, m.JSON, func(x *appsv1.Deployment) *metav1.ObjectMeta { return &x.ObjectMeta })
		case m.Kind == "Service" && m.APIVersion == "v1":
			merge(&out.services, m.JSON, func(x *corev1.Service) *metav1.ObjectMeta { return &x.ObjectMeta })
		case m.Kind == "ConfigMap" && m.APIVersion == "v1":
			merge(&out.configMaps, m.JSON, func(x *corev1.ConfigMap) *metav1.ObjectMeta { return &x.ObjectMeta })
		case m.Kind == "MutatingWebhookConfiguration" && m.APIVersion == "admissionregistration.k8s.io/v1":
			merge(&out.mutating, m.JSON, func(x *admissionregistrationv1.MutatingWebhookConfiguration) *metav1.ObjectMeta { return &x.ObjectMeta })
		case m.Kind == "ValidatingWebhookConfiguration" && m.APIVersion == "admissionregistration.k8s.io/v1":
			merge(&out.validating, m.JSON, func(x *admissionregistrationv1.ValidatingWebhookConfiguration) *metav1.ObjectMeta {
				return &x.ObjectMeta
			})
		}
	}
	return &out
}

// merge puts the object objJSON into list, in place of the live object of
// its name (keeping that one's identity), or at the end. An object that
// does not decode is left out: the dry run reports it.
func merge[T any](list *[]T, objJSON []byte, metaOf func(*T) *metav1.ObjectMeta) {
	var x T
	if json.Unmarshal(objJSON, &x) != nil {
		return
	}
	m := metaOf(&x)
	for i := range *list {
		live := metaOf(&(*list)[i])
		if live.Namespace == m.Namespace && live.Name == m.Name {
			m.UID, m.ResourceVersion = live.UID, live.ResourceVersion
			(*list)[i] = x
			return
		}
	}
	*list = append(*list, x)
}
