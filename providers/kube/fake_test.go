package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshwave/meshwave/plan"
)

// The fake API server of the step tests: client-go's fake clientsets. They
// serve the error paths a real server rarely shows on demand (a conflict, a
// NotFound, a failing read); the flows themselves are proven against the
// real API server in test/e2e.

// cluster is a fake API server holding built-in objects (the typed
// clientset) and custom resources and the workloads a rollout wait watches
// (the dynamic client).
type cluster struct {
	cs   *fake.Clientset
	dyn  *dynfake.FakeDynamicClient
	meta *metadatafake.FakeMetadataClient
}

// listKinds are the resources the dynamic client lists.
var listKinds = map[schema.GroupVersionResource]string{
	gvrIstio:         "IstioList",
	gvrMeshGateway:   "MeshGatewayList",
	gvrEnvoyFilter:   "EnvoyFilterList",
	gvrIstioOperator: "IstioOperatorList",
	gvrRollout:       "RolloutList",
}

func newCluster(t *testing.T, typed []runtime.Object, custom []runtime.Object) *cluster {
	t.Helper()
	c := &cluster{
		cs:  fake.NewClientset(typed...),
		dyn: dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds),
	}
	c.meta = c.metadataOfTyped()
	// Added by their resource: the fake would guess "meshgatewaies".
	for _, obj := range custom {
		u := obj.(*unstructured.Unstructured)
		var gvr schema.GroupVersionResource
		for r, list := range listKinds {
			if r.GroupVersion() == u.GroupVersionKind().GroupVersion() && list == u.GetKind()+"List" {
				gvr = r
			}
		}
		if err := c.dyn.Tracker().Create(gvr, u, u.GetNamespace()); err != nil {
			t.Fatal(err)
		}
		// Discovery serves Rollouts where their CRD would be installed,
		// and the caller may do anything.
		if gvr == gvrRollout && len(c.cs.Resources) == 0 {
			c.cs.Resources = []*metav1.APIResourceList{{GroupVersion: gvrRollout.GroupVersion().String(),
				APIResources: []metav1.APIResource{{Name: gvrRollout.Resource, Namespaced: true, Kind: "Rollout"}}}}
			c.cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
				r.Status.Allowed = true
				return true, r, nil
			})
		}
	}
	return c
}

// metadataOfTyped is a metadata client whose lists and watches of
// ReplicaSets are the typed clientset's, its reactors (injected failures,
// missed events) included, as metadata.
func (c *cluster) metadataOfTyped() *metadatafake.FakeMetadataClient {
	m := metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	m.PrependReactor("list", gvrReplicaSets.Resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.ListActionImpl)
		typed := k8stesting.NewListActionWithOptions(gvrReplicaSets, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), l.GetNamespace(), l.ListOptions)
		obj, err := c.cs.Invokes(typed, nil)
		if err != nil {
			return true, nil, err
		}
		// The fake metadata client takes a List of PartialObjectMetadata.
		rss := obj.(*appsv1.ReplicaSetList)
		out := &metav1.List{ListMeta: rss.ListMeta}
		for _, rs := range rss.Items {
			out.Items = append(out.Items, runtime.RawExtension{Object: replicaSetMeta(&rs)})
		}
		return true, out, nil
	})
	m.PrependWatchReactor(gvrReplicaSets.Resource, func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := c.cs.InvokesWatch(a)
		if err != nil {
			return true, nil, err
		}
		return true, watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
			if rs, ok := e.Object.(*appsv1.ReplicaSet); ok {
				e.Object = replicaSetMeta(rs)
			}
			return e, true
		}), nil
	})
	return m
}

func replicaSetMeta(rs *appsv1.ReplicaSet) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}, ObjectMeta: rs.ObjectMeta}
}

// provider is a Provider of flavor fl on the fake cluster, whose waits poll
// and whose retries back off in milliseconds.
func (c *cluster) provider(t *testing.T, fl plan.Flavor) *Provider {
	t.Helper()
	p, err := NewForClients(Clients{Kubernetes: c.cs, Dynamic: c.dyn, Metadata: c.meta, Host: "https://fake"}, fl)
	if err != nil {
		t.Fatal(err)
	}
	p.backoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 3}
	p.pollInterval = time.Millisecond
	p.evictRetry = time.Millisecond
	p.recheckAfter = 50 * time.Millisecond
	// The clock stands still: a failure that persists is one seen at all.
	p.failGrace = 0
	p.now = func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }
	t.Cleanup(p.Close)
	return p
}

// failure makes requests fail: the first times requests of verb on
// resource (times < 0: every one) answer err.
type failure struct {
	verb, resource string
	times          int
	err            error
	// only, when set, picks the requests that fail.
	only func(k8stesting.Action) bool
}

// inject installs f on both clients.
func (c *cluster) inject(f failure) {
	var mu sync.Mutex
	left := f.times
	react := func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 || f.only != nil && !f.only(a) {
			return false, nil, nil
		}
		left--
		return true, nil, f.err
	}
	c.cs.PrependReactor(f.verb, f.resource, react)
	c.dyn.PrependReactor(f.verb, f.resource, react)
}

// missedByWatch makes the watch cache miss the changes of the objects of
// resource named, as a watch cut while the API server restarted can: the
// cache's first list shows each as it is in was (leaves it out when not
// there), and the watch drops their events. Every other read sees them as
// they are.
func (c *cluster) missedByWatch(resource string, names []string, was ...runtime.Object) {
	missed := func(obj runtime.Object) bool {
		m, err := metaOf(obj)
		return err == nil && slices.Contains(names, m.GetName())
	}
	var mu sync.Mutex
	first := true
	c.cs.PrependReactor("list", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if !first {
			return false, nil, nil
		}
		first = false
		list, err := c.cs.Tracker().List(a.GetResource(), a.(k8stesting.ListActionImpl).GetKind(), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return true, nil, err
		}
		items = append(slices.DeleteFunc(items, missed), was...)
		return true, list, meta.SetList(list, items)
	})
	c.cs.PrependWatchReactor(resource, func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := c.cs.Tracker().Watch(a.GetResource(), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		return true, watch.Filter(w, func(e watch.Event) (watch.Event, bool) { return e, !missed(e.Object) }), nil
	})
}

// injectProxies answers every dry-run creation of a pod as an injection
// webhook would: with an istio-proxy container of image added.
func (c *cluster) injectProxies(image string) {
	c.cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(k8stesting.CreateActionImpl)
		if !ok || len(ca.CreateOptions.DryRun) == 0 {
			return false, nil, nil
		}
		pod := ca.Object.(*corev1.Pod).DeepCopy()
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: proxyContainer, Image: image})
		return true, pod, nil
	})
}

// writes are the changes sent to the cluster, failed ones included, as
// "verb resource namespace/name".
func (c *cluster) writes() []string {
	var out []string
	for _, a := range append(c.cs.Actions(), c.dyn.Actions()...) {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
		default:
			continue
		}
		if a.GetResource().Resource == "selfsubjectaccessreviews" {
			continue // a question, not a change
		}
		name, verb, resource := "", a.GetVerb(), a.GetResource().Resource
		switch a := a.(type) {
		case k8stesting.CreateActionImpl:
			if len(a.CreateOptions.DryRun) > 0 {
				verb = "dry-run " + verb
			}
			if sub := a.GetSubresource(); sub != "" {
				// An eviction: name the pod it evicts.
				resource, name = resource+"/"+sub, a.GetObject().(metav1.Object).GetName()
			}
		case k8stesting.PatchAction:
			name = a.GetName()
		case k8stesting.UpdateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.DeleteAction:
			name = a.GetName()
		}
		out = append(out, fmt.Sprintf("%s %s %s", verb, resource, strings.TrimPrefix(a.GetNamespace()+"/"+name, "/")))
	}
	return out
}

// The errors the fake server answers with.
func conflict(resource, name string) error {
	return apierrors.NewConflict(schema.GroupResource{Resource: resource}, name, errors.New("the object has been modified"))
}

func notFound(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

func forbidden(resource, name string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, name, errors.New("RBAC says no"))
}

// stepCase is one call of a step's operation on a fake cluster.
type stepCase struct {
	op      string // prepare, run, verify or rollback
	rec     plan.Record
	objects []runtime.Object // built-in objects
	custom  []runtime.Object // custom resources, and workloads as the rollout wait watches them
	fail    []failure
	// missed makes the watch cache miss changes (missedByWatch).
	missed *missed
	// injector, when set, is the proxy image a fake injection webhook adds
	// to the pods the API server is asked to create with dryRun.
	injector string
	// twice calls the operation a second time, as a resumed apply does.
	twice bool
	// wantErr is a part of the error; empty: no error.
	wantErr    string
	wantRecord plan.Record // of prepare
	wantWrites []string
	// wantProgress, when set, is every progress message of run or
	// rollback, in order.
	wantProgress []string
}

// missed are the arguments of missedByWatch.
type missed struct {
	resource string
	names    []string
	was      []runtime.Object
}

// run calls the case's operation of step on a fresh fake cluster and checks
// its error, record and writes. It returns the cluster for checks of the
// objects.
func (tc stepCase) run(t *testing.T, fl plan.Flavor, step plan.Step) *cluster {
	t.Helper()
	c := newCluster(t, tc.objects, tc.custom)
	for _, f := range tc.fail {
		c.inject(f)
	}
	if tc.missed != nil {
		c.missedByWatch(tc.missed.resource, tc.missed.names, tc.missed.was...)
	}
	if tc.injector != "" {
		c.injectProxies(tc.injector)
	}
	p := c.provider(t, fl)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var rec map[string]string
	var err error
	var progress []string
	report := func(msg string) { progress = append(progress, msg) }
	for range 1 + btoi(tc.twice) {
		switch tc.op {
		case "prepare":
			rec, err = p.Prepare(ctx, step)
		case "run":
			err = p.Run(ctx, step, tc.rec, report)
		case "verify":
			err = p.Verify(ctx, step, tc.rec)
		case "rollback":
			err = p.Rollback(ctx, step, tc.rec, report)
		default:
			t.Fatalf("unknown op %q", tc.op)
		}
		if err != nil {
			break
		}
	}
	checkErr(t, err, tc.wantErr)
	if tc.op == "prepare" && tc.wantErr == "" {
		if d := cmp.Diff(tc.wantRecord, plan.Record(rec)); d != "" {
			t.Errorf("record (-want +got):\n%s", d)
		}
	}
	if d := cmp.Diff(tc.wantWrites, c.writes()); d != "" {
		t.Errorf("writes (-want +got):\n%s", d)
	}
	if tc.wantProgress != nil {
		if d := cmp.Diff(tc.wantProgress, progress); d != "" {
			t.Errorf("progress (-want +got):\n%s", d)
		}
	}
	return c
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want one containing %q", err, want)
	}
}

// Objects of the fake cluster.

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, ResourceVersion: "1"}}
}

// readyDeployment is a Deployment whose rollout is complete, with its pod
// template annotations.
func readyDeployment(ns, name string, annotations map[string]string) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: annotations, Labels: map[string]string{labelApp: name}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			}},
	}
}

// asUnstructured is obj as the dynamic client serves it.
func asUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	if u.GetKind() == "" {
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			t.Fatal(err)
		}
		u.SetGroupVersionKind(gvks[0])
	}
	return u
}

// proxyPod is a pod of app running proxy image, injected by revision rev,
// owned by owner.
func proxyPod(ns, name, app, image, rev string, ready bool, owner ...metav1.OwnerReference) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owner,
			Labels: map[string]string{labelApp: app, plan.LabelRevision: rev}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: proxyContainer, Image: image}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if ready {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return pod
}

// argoRolloutObject is an Argo Rollout as the dynamic client serves it,
// with spec and status (nil: none).
func argoRolloutObject(ns, name string, spec, st map[string]any) unstructured.Unstructured {
	u := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"namespace": ns, "name": name, "generation": int64(1)},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	if st != nil {
		u.Object["status"] = st
	}
	return u
}
