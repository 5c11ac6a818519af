package kube

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

const (
	evictFrom, evictTo = "proxyv2:1.30.0", "proxyv2:1.31.0"
	revFrom, revTo     = "1-30", "1-31"
)

var evictStep = plan.Step{ID: "wave/rest/evict/demo-b/statefulset/cache", Kind: plan.StepWorkloadEvict, Action: plan.ActionEvict,
	Object:       &plan.ObjectRef{Kind: "StatefulSet", Namespace: "demo-b", Name: "cache"},
	FromRevision: revFrom, ToRevision: revTo, FromImage: evictFrom, ToImage: evictTo, TimeoutSecond: 10}

// onDeleteStatefulSet is demo-b/cache, OnDelete, with replicas pods.
func onDeleteStatefulSet(replicas int32, strategy appsv1.StatefulSetUpdateStrategyType) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo-b", Name: "cache", Generation: 1},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas, UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: strategy},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{labelApp: "cache"}}}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: replicas, ReadyReplicas: replicas},
	}
}

// cachePod is pod cache-ORDINAL of demo-b/cache with uid, on image.
func cachePod(ordinal int, uid, image string, ready bool) *corev1.Pod {
	yes := true
	rev := revFrom
	if image == evictTo {
		rev = revTo
	}
	pod := proxyPod("demo-b", fmt.Sprintf("cache-%d", ordinal), "cache", image, rev, ready,
		metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "cache", Controller: &yes})
	pod.UID = types.UID(uid)
	return pod
}

// budgetRefusal is the API server's answer to an eviction that
// PodDisruptionBudget pdb refuses.
func budgetRefusal(pdb string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	if err.ErrStatus.Details == nil {
		err.ErrStatus.Details = &metav1.StatusDetails{}
	}
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s needs 3 healthy pods and has 3 currently", pdb)})
	return err
}

// statefulSetController stands in for the StatefulSet controller and the
// API server's eviction: an accepted eviction deletes the pod and
// re-creates it under its name, with a new uid, not Ready yet, injected
// with image; the test makes it Ready once the step waits for it. Each
// eviction first checks that every other pod of the StatefulSet is there
// and Ready: one at a time.
type statefulSetController struct {
	c     *cluster
	image string
	// refuse answers the evictions of a pod, by name, with a budget's
	// refusal so many times (< 0: always).
	refuse map[string]int
	// createFails, when set, is why the API server refuses the pods the
	// controller re-creates: it reports FailedCreate instead.
	createFails string

	mu        sync.Mutex
	evicted   []string
	uids      int
	violation []string
}

func (s *statefulSetController) install() {
	s.c.cs.PrependReactor("create", "pods/eviction", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ev := a.(k8stesting.CreateActionImpl).Object.(*policyv1.Eviction)
		s.mu.Lock()
		defer s.mu.Unlock()
		if n := s.refuse[ev.Name]; n != 0 {
			s.refuse[ev.Name] = n - 1
			return true, nil, budgetRefusal("cache-pdb")
		}
		pods := s.pods()
		for _, pod := range pods {
			if pod.Name != ev.Name && !podFacts(&pod).Ready {
				s.violation = append(s.violation, fmt.Sprintf("%s evicted while %s is not Ready", ev.Name, pod.Name))
			}
		}
		i := slices.IndexFunc(pods, func(p corev1.Pod) bool { return p.Name == ev.Name })
		if i < 0 {
			return true, nil, notFound("pods", ev.Name)
		}
		if pre := ev.DeleteOptions.Preconditions; pre == nil || pre.UID == nil || *pre.UID != pods[i].UID {
			s.violation = append(s.violation, ev.Name+" evicted without its uid as a precondition")
		}
		s.evicted = append(s.evicted, ev.Name)
		gvr := corev1.SchemeGroupVersion.WithResource("pods")
		if err := s.c.cs.Tracker().Delete(gvr, "demo-b", ev.Name); err != nil {
			return true, nil, err
		}
		s.uids++
		if s.createFails != "" {
			event := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "demo-b", Name: "cache.failed"}, Reason: reasonFailedCreate,
				InvolvedObject: corev1.ObjectReference{Kind: "StatefulSet", Namespace: "demo-b", Name: "cache"}, Message: s.createFails, Count: 3}
			return true, nil, s.c.cs.Tracker().Create(corev1.SchemeGroupVersion.WithResource("events"), event, "demo-b")
		}
		var ord int
		fmt.Sscanf(strings.TrimPrefix(ev.Name, "cache-"), "%d", &ord)
		return true, nil, s.c.cs.Tracker().Create(gvr, cachePod(ord, fmt.Sprintf("new-%d", s.uids), s.image, false), "demo-b")
	})
}

// pods are the StatefulSet's pods in the fake cluster.
func (s *statefulSetController) pods() []corev1.Pod {
	objs, err := s.c.cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), "demo-b")
	if err != nil {
		return nil
	}
	return objs.(*corev1.PodList).Items
}

// ready makes pod name Ready, as the kubelet would once it started.
func (s *statefulSetController) ready(t *testing.T, name string) {
	for _, pod := range s.pods() {
		if pod.Name == name && !podFacts(&pod).Ready {
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			if err := s.c.cs.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), &pod, "demo-b"); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestEvictStep(t *testing.T) {
	sts := onDeleteStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	onSource := func() []runtime.Object {
		return []runtime.Object{sts, cachePod(0, "uid-0", evictFrom, true), cachePod(1, "uid-1", evictFrom, true), cachePod(2, "uid-2", evictFrom, true)}
	}
	rec := plan.Record{"pods": `{"cache-0":"uid-0","cache-1":"uid-1","cache-2":"uid-2"}`}
	evict := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = "create pods/eviction demo-b/" + n
		}
		return out
	}
	tests := map[string]struct {
		op      string // run or rollback
		objects []runtime.Object
		rec     plan.Record
		refuse  map[string]int
		// createFails makes the controller fail to re-create pods.
		createFails string
		fail        []failure
		// image is the proxy the controller's re-created pods get.
		image      string
		timeout    int64
		twice      bool
		wantErr    string
		wantWrites []string
		// wantEvicted are the evictions the API server accepted, in order.
		wantEvicted []string
		// wantProgress are lines the step must have reported.
		wantProgress []string
	}{
		"run evicts the pods one at a time, highest ordinal first, each waited on until Ready on the target": {
			objects: onSource(), rec: rec, image: evictTo,
			wantWrites: evict("cache-2", "cache-1", "cache-0"), wantEvicted: []string{"cache-2", "cache-1", "cache-0"},
			wantProgress: []string{"evicted demo-b/cache-2 (proxy 1.30.0); waiting for its new pod on 1.31.0",
				"demo-b/cache-2: waiting for it to be Ready on 1.31.0"}},
		"run leaves a pod already on the target alone": {
			objects: []runtime.Object{sts, cachePod(0, "uid-0", evictFrom, true), cachePod(1, "uid-1", evictFrom, true), cachePod(2, "new-9", evictTo, true)},
			rec:     rec, image: evictTo,
			wantWrites: evict("cache-1", "cache-0"), wantEvicted: []string{"cache-1", "cache-0"}},
		"run again evicts no pod twice": {
			objects: onSource(), rec: rec, image: evictTo, twice: true,
			wantWrites: evict("cache-2", "cache-1", "cache-0"), wantEvicted: []string{"cache-2", "cache-1", "cache-0"}},
		"run waits for a PodDisruptionBudget that refuses an eviction, then evicts": {
			objects: onSource(), rec: rec, image: evictTo, refuse: map[string]int{"cache-2": 2},
			wantWrites: evict("cache-2", "cache-2", "cache-2", "cache-1", "cache-0"), wantEvicted: []string{"cache-2", "cache-1", "cache-0"},
			wantProgress: []string{"evicting demo-b/cache-2: blocked by PodDisruptionBudget demo-b/cache-pdb (The disruption budget cache-pdb needs 3 healthy pods and has 3 currently), retrying"}},
		"run blocked by a PodDisruptionBudget until its timeout names the budget and deletes nothing": {
			objects: onSource(), rec: rec, image: evictTo, refuse: map[string]int{"cache-2": -1}, timeout: 1,
			wantErr: "evict pod demo-b/cache-2: blocked by PodDisruptionBudget demo-b/cache-pdb until the step's timeout (1s): The disruption budget cache-pdb needs 3 healthy pods and has 3 currently; nothing was deleted past it"},
		"run sends an eviction again when the API server is busy": {
			objects: onSource(), rec: rec, image: evictTo,
			fail:       []failure{{verb: "create", resource: "pods/eviction", times: 1, err: apierrors.NewTooManyRequests("the server is busy", 1)}},
			wantWrites: evict("cache-2", "cache-2", "cache-1", "cache-0"), wantEvicted: []string{"cache-2", "cache-1", "cache-0"}},
		"run stops when a re-created pod is not on the target, without evicting it again": {
			objects: onSource(), rec: rec, image: evictFrom,
			wantErr:    `pod demo-b/cache-2 was re-created and runs proxy "proxyv2:1.30.0" (revision "1-30"), want proxyv2:1.31.0 from revision 1-31: meshwave evicts a pod only once`,
			wantWrites: evict("cache-2"), wantEvicted: []string{"cache-2"}},
		"run stops at once on an eviction that never passes": {
			objects: onSource(), rec: rec, image: evictTo,
			fail: []failure{{verb: "create", resource: "pods/eviction", times: -1, err: &apierrors.StatusError{ErrStatus: metav1.Status{
				Status: metav1.StatusFailure, Code: 500, Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."}}}},
			wantErr:    "evict pod demo-b/cache-2: This pod has more than one PodDisruptionBudget",
			wantWrites: evict("cache-2")},
		"run stops when the controller cannot re-create an evicted pod, quoting the API server": {
			objects: onSource(), rec: rec, image: evictTo, createFails: `pods "cache-2" is forbidden: exceeded quota: pods`,
			wantErr:    `StatefulSet demo-b/cache cannot re-create pod cache-2: pods "cache-2" is forbidden: exceeded quota: pods (FailedCreate, 3 times)`,
			wantWrites: evict("cache-2"), wantEvicted: []string{"cache-2"}},
		"rollback evicts the pods again onto the source": {
			op:      "rollback",
			objects: []runtime.Object{sts, cachePod(0, "new-7", evictTo, true), cachePod(1, "new-8", evictTo, true), cachePod(2, "new-9", evictTo, true)},
			rec:     rec, image: evictFrom,
			wantWrites: evict("cache-2", "cache-1", "cache-0"), wantEvicted: []string{"cache-2", "cache-1", "cache-0"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, tc.objects, nil)
			ctl := &statefulSetController{c: c, image: tc.image, refuse: tc.refuse, createFails: tc.createFails}
			ctl.install()
			for _, f := range tc.fail { // answered before the controller sees them
				c.inject(f)
			}
			p := c.provider(t, plan.FlavorIstio)
			step := evictStep
			if tc.timeout > 0 {
				step.TimeoutSecond = tc.timeout
			}
			var mu sync.Mutex
			var progress []string
			report := func(msg string) {
				mu.Lock()
				progress = append(progress, msg)
				mu.Unlock()
				if pod, ok := strings.CutSuffix(strings.TrimPrefix(msg, "demo-b/"), ": waiting for it to be Ready on "+shortImage(tc.image)); ok {
					ctl.ready(t, pod)
				}
			}
			var err error
			for range 1 + btoi(tc.twice) {
				if tc.op == "rollback" {
					err = p.Rollback(t.Context(), step, tc.rec, report)
				} else {
					err = p.Run(t.Context(), step, tc.rec, report)
				}
				if err != nil {
					break
				}
			}
			checkErr(t, err, tc.wantErr)
			if tc.wantWrites == nil && tc.wantErr != "" {
				tc.wantWrites = c.writes() // what a timeout sent is not the point
				for _, w := range tc.wantWrites {
					if w != "create pods/eviction demo-b/cache-2" {
						t.Errorf("write %q, want only evictions of cache-2", w)
					}
				}
			}
			if d := cmp.Diff(tc.wantWrites, c.writes()); d != "" {
				t.Errorf("writes (-want +got):\n%s", d)
			}
			ctl.mu.Lock()
			defer ctl.mu.Unlock()
			if d := cmp.Diff(tc.wantEvicted, ctl.evicted); d != "" {
				t.Errorf("evictions accepted (-want +got):\n%s", d)
			}
			if len(ctl.violation) > 0 {
				t.Errorf("not one at a time: %v", ctl.violation)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, want := range tc.wantProgress {
				if !slices.Contains(progress, want) {
					t.Errorf("progress %q missing from:\n%s", want, strings.Join(progress, "\n"))
				}
			}
			if tc.wantErr != "" {
				return
			}
			for _, pod := range ctl.pods() {
				if f := podFacts(&pod); f.ProxyImage != tc.image || !f.Ready {
					t.Errorf("pod %s runs %q (Ready %v) after the step, want %q Ready", pod.Name, f.ProxyImage, f.Ready, tc.image)
				}
			}
		})
	}
}

func TestEvictPrepareAndVerify(t *testing.T) {
	other := proxyPod("demo-b", "web-1", "web", evictFrom, revFrom, true)
	objects := []runtime.Object{onDeleteStatefulSet(2, appsv1.OnDeleteStatefulSetStrategyType),
		cachePod(0, "uid-0", evictFrom, true), cachePod(1, "uid-1", evictFrom, true), other}
	tests := map[string]stepCase{
		"prepare proves injection and records the uid of each pod of the StatefulSet": {op: "prepare", objects: objects, injector: evictTo,
			wantRecord: plan.Record{"pods": `{"cache-0":"uid-0","cache-1":"uid-1"}`}, wantWrites: []string{"dry-run create pods demo-b/"}},
		"prepare refuses a StatefulSet that rolls by itself since the plan": {op: "prepare",
			objects: []runtime.Object{onDeleteStatefulSet(2, appsv1.RollingUpdateStatefulSetStrategyType)},
			wantErr: `StatefulSet demo-b/cache is not rolled by evicting its pods any more (update strategy "RollingUpdate"): plan again`},
		"prepare stops when the target would not inject the new pods": {op: "prepare", objects: objects, injector: evictFrom,
			wantErr: "a dry-run pod of StatefulSet demo-b/cache got proxy proxyv2:1.30.0", wantWrites: []string{"dry-run create pods demo-b/"}},
		"verify of pods on the target": {op: "verify", objects: []runtime.Object{onDeleteStatefulSet(1, appsv1.OnDeleteStatefulSetStrategyType),
			cachePod(0, "new-1", evictTo, true)}},
		"verify names a pod not on the target": {op: "verify", objects: objects, wantErr: `pod demo-b/cache-0 runs proxy "proxyv2:1.30.0", want "proxyv2:1.31.0"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { tc.run(t, plan.FlavorIstio, evictStep) })
	}
}

// A wave that opts in to roll_on_delete needs to evict pods in its
// namespaces.
func TestEvictPermission(t *testing.T) {
	p := &Provider{flavor: upstreamIstio{}}
	cfg := &config.Config{Waves: []config.WaveConfig{{Name: "a", Namespaces: []string{"demo-a"}},
		{Name: "b", Namespaces: []string{"demo-c", "demo-b"}, RollOnDelete: true}}}
	var got []permissionNeed
	for _, n := range p.permissionNeeds(cfg, &plan.Snapshot{}) {
		if n.resource == "pods/eviction" {
			got = append(got, n)
		}
	}
	want := []permissionNeed{{"create", "", "pods/eviction", []string{"demo-b", "demo-c"}}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(permissionNeed{})); d != "" {
		t.Errorf("eviction needs (-want +got):\n%s", d)
	}
	cfg.Waves[1].RollOnDelete = false
	for _, n := range p.permissionNeeds(cfg, &plan.Snapshot{}) {
		if n.resource == "pods/eviction" {
			t.Errorf("no wave opts in, yet apply asks for %+v", n)
		}
	}
}
