package kube

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	utilptr "k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
	"github.com/meshwave/meshwave/states"
	"github.com/meshwave/meshwave/states/statefile"
	"github.com/meshwave/meshwave/states/statemgr"
)

// casServer answers get, create, update and delete of Secrets and Leases
// the way the API server does and client-go's fake tracker does not: every
// write sets a new resourceVersion, an update or a delete with a stale one
// is a Conflict.
type casServer struct {
	mu   sync.Mutex
	rv   int
	objs map[string]runtime.Object // resource/namespace/name
}

func newCASCluster(objs ...runtime.Object) (*fake.Clientset, *casServer) {
	cs := fake.NewClientset()
	s := &casServer{objs: map[string]runtime.Object{}}
	for _, o := range objs {
		m, _ := meta.Accessor(o)
		res := "secrets"
		if _, ok := o.(*coordinationv1.Lease); ok {
			res = "leases"
		}
		s.rv++
		m.SetResourceVersion(strconv.Itoa(s.rv))
		s.objs[res+"/"+m.GetNamespace()+"/"+m.GetName()] = o
	}
	for _, res := range []string{"secrets", "leases"} {
		cs.PrependReactor("*", res, s.react)
	}
	return cs, s
}

func (s *casServer) get(resource, ns, name string) runtime.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objs[resource+"/"+ns+"/"+name]; o != nil {
		return o.DeepCopyObject()
	}
	return nil
}

func (s *casServer) react(a k8stesting.Action) (bool, runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gr := schema.GroupResource{Group: a.GetResource().Group, Resource: a.GetResource().Resource}
	var name string
	var obj runtime.Object
	switch a := a.(type) {
	case k8stesting.GetAction:
		name = a.GetName()
	case k8stesting.DeleteAction:
		name = a.GetName()
	case k8stesting.CreateAction:
		obj = a.GetObject().DeepCopyObject()
		m, _ := meta.Accessor(obj)
		name = m.GetName()
	default:
		return false, nil, nil
	}
	key := gr.Resource + "/" + a.GetNamespace() + "/" + name
	cur := s.objs[key]
	switch a.GetVerb() {
	case "get":
		if cur == nil {
			return true, nil, apierrors.NewNotFound(gr, name)
		}
		return true, cur.DeepCopyObject(), nil
	case "create":
		if cur != nil {
			return true, nil, apierrors.NewAlreadyExists(gr, name)
		}
		m, _ := meta.Accessor(obj)
		s.rv++
		m.SetResourceVersion(strconv.Itoa(s.rv))
		m.SetUID(types.UID(fmt.Sprintf("uid-%d", s.rv)))
		s.objs[key] = obj
		return true, obj.DeepCopyObject(), nil
	case "update":
		if cur == nil {
			return true, nil, apierrors.NewNotFound(gr, name)
		}
		m, _ := meta.Accessor(obj)
		cm, _ := meta.Accessor(cur)
		if m.GetResourceVersion() != cm.GetResourceVersion() {
			return true, nil, apierrors.NewConflict(gr, name, errors.New("the object has been modified"))
		}
		s.rv++
		m.SetResourceVersion(strconv.Itoa(s.rv))
		s.objs[key] = obj
		return true, obj.DeepCopyObject(), nil
	case "delete":
		if cur == nil {
			return true, nil, apierrors.NewNotFound(gr, name)
		}
		cm, _ := meta.Accessor(cur)
		if pre := a.(k8stesting.DeleteAction).GetDeleteOptions().Preconditions; pre != nil && pre.ResourceVersion != nil && *pre.ResourceVersion != cm.GetResourceVersion() {
			return true, nil, apierrors.NewConflict(gr, name, errors.New("the precondition failed"))
		}
		delete(s.objs, key)
		return true, nil, nil
	}
	return false, nil, nil
}

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestStateBackendConformance(t *testing.T) {
	cs, _ := newCASCluster()
	statemgr.TestFull(t, func() statemgr.Full {
		return NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{})
	})
}

// A Secret meshwave did not create as a state is refused, never
// overwritten, whatever it holds.
func TestStateBackendRefusesForeignSecret(t *testing.T) {
	valid, _ := encodeState(new(statefile.Encoder), states.New())
	cases := map[string]*corev1.Secret{
		"opaque secret":      {Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2")}},
		"opaque, state data": {Type: corev1.SecretTypeOpaque, Data: map[string][]byte{StateDataKey: valid}},
		"no data":            {Type: StateSecretType},
		"not gzip":           {Type: StateSecretType, Data: map[string][]byte{StateDataKey: []byte(`{"format_version": "1.1"}`)}},
		"not a state":        {Type: StateSecretType, Data: map[string][]byte{StateDataKey: gz(t, []byte(`{"version": 4}`))}},
		"too large":          {Type: StateSecretType, Data: map[string][]byte{StateDataKey: gz(t, make([]byte, statemgr.MaxStateSize+1))}},
	}
	for name, sec := range cases {
		t.Run(name, func(t *testing.T) {
			sec.ObjectMeta = metav1.ObjectMeta{Namespace: "meshwave", Name: "upgrade"}
			cs, srv := newCASCluster(sec.DeepCopy())
			before := srv.get("secrets", "meshwave", "upgrade")
			b := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{})
			var unusable *statemgr.UnusableStateError
			if _, err := b.Read(); !errors.As(err, &unusable) {
				t.Fatalf("Read: got %v, want *UnusableStateError", err)
			}
			if err := b.Write(states.New()); !errors.As(err, &unusable) {
				t.Errorf("Write over it: got %v, want *UnusableStateError", err)
			}
			if err := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{}).Write(states.New()); !errors.As(err, &unusable) {
				t.Errorf("Write without Read: got %v, want *UnusableStateError", err)
			}
			if diff := cmp.Diff(before, srv.get("secrets", "meshwave", "upgrade")); diff != "" {
				t.Errorf("the Secret changed (-before +after):\n%s", diff)
			}
		})
	}
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Two processes that read the same version: the second write is refused as
// someone else's, and its serial is left as it was.
func TestStateBackendWriteIsCompareAndSwap(t *testing.T) {
	cs, srv := newCASCluster()
	st := states.New()
	if err := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{}).Write(st); err != nil {
		t.Fatal(err)
	}
	a, b := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{}), NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{})
	sa, err := a.Read()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Read()
	if err != nil {
		t.Fatal(err)
	}
	sb.PlanHash = "b's"
	if err := b.Write(sb); err != nil {
		t.Fatal(err)
	}
	sa.PlanHash = "a's"
	err = a.Write(sa)
	var cw *ConcurrentWriteError
	if !errors.As(err, &cw) || !strings.Contains(err.Error(), "someone else wrote Kubernetes Secret meshwave/upgrade") {
		t.Fatalf("second write: got %v, want *ConcurrentWriteError naming the Secret", err)
	}
	if sa.Serial != 1 {
		t.Errorf("serial after the refused write: %d, want 1", sa.Serial)
	}
	got, err := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{}).Read()
	if err != nil {
		t.Fatal(err)
	}
	if got.PlanHash != "b's" || got.Serial != 2 {
		t.Errorf("stored state: plan hash %q serial %d, want b's write (serial 2)", got.PlanHash, got.Serial)
	}
	sec := srv.get("secrets", "meshwave", "upgrade").(*corev1.Secret)
	want := map[string]string{annotationLineage: st.Lineage, annotationSerial: "2"}
	if diff := cmp.Diff(want, sec.Annotations); diff != "" || sec.Type != StateSecretType || sec.Labels[labelManagedBy] != fieldManager {
		t.Errorf("Secret: type %q labels %v annotations (-want +got):\n%s", sec.Type, sec.Labels, diff)
	}
}

// A write whose answer was lost (a timeout after the server applied it) is
// sent again, meets its own write as a conflict, and is not mistaken for
// someone else's.
func TestStateBackendLostAnswerIsNotAConflict(t *testing.T) {
	cs, _ := newCASCluster()
	b := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{})
	st := states.New()
	if err := b.Write(st); err != nil {
		t.Fatal(err)
	}
	lost := true
	cs.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if !lost {
			return false, nil, nil
		}
		lost = false
		cs.ReactionChain[1].React(a) // the server applies it...
		return true, nil, apierrors.NewServerTimeout(schema.GroupResource{Resource: "secrets"}, "update", 1)
	})
	st.Ensure(plan.Step{ID: "wave/a/relabel/demo", Kind: plan.StepNamespaceRelabel, Wave: "a"})
	if err := b.Write(st); err != nil {
		t.Fatalf("write whose first answer was lost: %v", err)
	}
	if err := b.Write(st); err != nil {
		t.Fatalf("the next write: %v", err)
	}
}

func TestStateBackendLease(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 2, 3, 4, 0, time.UTC)}
	cs, srv := newCASCluster()
	open := func() *StateBackend {
		return NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{Now: clk.now, RenewEvery: time.Hour})
	}
	a := open()
	info, err := a.Lock("apply")
	if err != nil {
		t.Fatal(err)
	}
	lease := srv.get("leases", "meshwave", "upgrade").(*coordinationv1.Lease)
	if got := lockInfoOf(lease, a.Location()); !cmp.Equal(got, info) {
		t.Errorf("the Lease names %+v, want %+v", got, info)
	}
	if *lease.Spec.LeaseDurationSeconds != 30 || !lease.Spec.RenewTime.Time.Equal(clk.now()) {
		t.Errorf("lease duration %d renewed %v, want 30 s at %v", *lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime, clk.now())
	}

	t.Run("held: the holder is named", func(t *testing.T) {
		clk.advance(20 * time.Second)
		_, err := open().Lock("apply")
		var locked *statemgr.LockedError
		if !errors.As(err, &locked) {
			t.Fatalf("got %v, want *LockedError", err)
		}
		for _, want := range []string{info.Holder, fmt.Sprintf("pid %d", info.PID), info.ID, `operation "apply"`, "expires at 2026-03-01T02:03:34Z"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not say %q", err, want)
			}
		}
	})

	b := open()
	t.Run("expired: taken over, the old holder can no longer write", func(t *testing.T) {
		clk.advance(11 * time.Second)
		if _, err := b.Lock("apply"); err != nil {
			t.Fatalf("Lock of an expired lease: %v", err)
		}
		if err := a.Write(states.New()); err == nil || !strings.Contains(err.Error(), "may have been taken over") {
			t.Errorf("write by the old holder: got %v, want a refusal", err)
		}
		if err := a.renew(context.Background()); err == nil || !strings.Contains(err.Error(), "taken over by") {
			t.Errorf("renew by the old holder: got %v, want it to see the lock taken over", err)
		}
		if err := a.Unlock(); err != nil {
			t.Fatal(err)
		}
		if srv.get("leases", "meshwave", "upgrade") == nil {
			t.Errorf("the old holder's Unlock deleted the new holder's Lease")
		}
	})

	t.Run("renewed while held", func(t *testing.T) {
		clk.advance(25 * time.Second)
		if err := b.renew(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.advance(25 * time.Second)
		if _, err := open().Lock("apply"); err == nil {
			t.Errorf("a renewed lease was taken over")
		}
		if err := b.Write(states.New()); err != nil {
			t.Errorf("write by the holder of a renewed lease: %v", err)
		}
	})

	if err := b.Unlock(); err != nil {
		t.Fatal(err)
	}
	if srv.get("leases", "meshwave", "upgrade") != nil {
		t.Errorf("Unlock left the Lease")
	}
}

// A Lease another process keeps unchanged past its duration is expired by
// this process's clock, whatever the renewTime in it says (a holder whose
// clock runs ahead).
func TestStateBackendLeaseExpiresByObservation(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 2, 3, 4, 0, time.UTC)}
	future := metav1.NewMicroTime(clk.t.Add(time.Hour))
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "meshwave", Name: "upgrade", Labels: map[string]string{labelManagedBy: fieldManager},
			Annotations: map[string]string{annotationLockID: "x", annotationLockUser: "bob@ci", annotationLockPID: "7"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: utilptr.To("bob@ci pid 7"), LeaseDurationSeconds: utilptr.To(int32(30)), RenewTime: &future},
	}
	cs, _ := newCASCluster(lease)
	b := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{Now: clk.now, RenewEvery: time.Hour})
	if _, err := b.Lock("apply"); err == nil || !strings.Contains(err.Error(), "bob@ci") {
		t.Fatalf("first look: got %v, want the lock held by bob@ci", err)
	}
	clk.advance(31 * time.Second)
	if _, err := b.Lock("apply"); err != nil {
		t.Fatalf("after the lease stayed unchanged for its duration: %v", err)
	}
	b.Unlock()
}

// Many processes racing for one Lease: exactly one gets it, the others are
// told who.
func TestStateBackendLeaseRace(t *testing.T) {
	for _, expired := range []bool{false, true} {
		t.Run(fmt.Sprintf("expired=%v", expired), func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 3, 1, 2, 3, 4, 0, time.UTC)}
			cs, _ := newCASCluster()
			open := func() *StateBackend {
				return NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{Now: clk.now, RenewEvery: time.Hour})
			}
			if expired {
				old := open()
				if _, err := old.Lock("apply"); err != nil {
					t.Fatal(err)
				}
				clk.advance(time.Minute)
			}
			const n = 20
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, errs[i] = open().Lock("apply")
				})
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				var locked *statemgr.LockedError
				switch {
				case err == nil:
					won++
				case !errors.As(err, &locked) || locked.Info == nil || locked.Info.ID == "":
					t.Errorf("a loser got %v, want *LockedError naming the holder", err)
				}
			}
			if won != 1 {
				t.Errorf("%d processes got the lock, want 1", won)
			}
		})
	}
}

// The lock is renewed in the background while it is held.
func TestStateBackendRenewsInTheBackground(t *testing.T) {
	cs, srv := newCASCluster()
	b := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{RenewEvery: 5 * time.Millisecond})
	if _, err := b.Lock("apply"); err != nil {
		t.Fatal(err)
	}
	first := srv.get("leases", "meshwave", "upgrade").(*coordinationv1.Lease).Spec.RenewTime.Time
	deadline := time.Now().Add(10 * time.Second)
	for srv.get("leases", "meshwave", "upgrade").(*coordinationv1.Lease).Spec.RenewTime.Time.Equal(first) {
		if time.Now().After(deadline) {
			t.Fatal("the Lease was not renewed within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// A Lease meshwave did not create is neither taken nor deleted.
func TestStateBackendRefusesForeignLease(t *testing.T) {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "meshwave", Name: "upgrade"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: utilptr.To("kube-scheduler")}}
	cs, srv := newCASCluster(lease)
	b := NewStateBackend(cs, "meshwave", "upgrade", StateBackendOptions{})
	if _, err := b.Lock("apply"); err == nil || !strings.Contains(err.Error(), "not created by meshwave") {
		t.Errorf("Lock: got %v, want a refusal", err)
	}
	if err := b.ForceUnlock(""); err == nil || !strings.Contains(err.Error(), "not created by meshwave") {
		t.Errorf("ForceUnlock: got %v, want a refusal", err)
	}
	if srv.get("leases", "meshwave", "upgrade") == nil {
		t.Errorf("the foreign Lease was deleted")
	}
}

// The RBAC preflight asks for what the Kubernetes backend does in its
// namespace, and for nothing when the state is a local file.
func TestStateBackendPermissionNeeds(t *testing.T) {
	p := &Provider{flavor: upstreamIstio{}}
	of := func(cfg *config.Config) []permissionNeed {
		var got []permissionNeed
		for _, n := range p.permissionNeeds(cfg, &plan.Snapshot{}) {
			if n.resource == "secrets" || n.resource == "leases" {
				got = append(got, n)
			}
		}
		return got
	}
	ns := []string{"meshwave"}
	want := []permissionNeed{
		{"get", "", "secrets", ns}, {"create", "", "secrets", ns}, {"update", "", "secrets", ns},
		{"get", "coordination.k8s.io", "leases", ns}, {"create", "coordination.k8s.io", "leases", ns},
		{"update", "coordination.k8s.io", "leases", ns}, {"delete", "coordination.k8s.io", "leases", ns},
	}
	kube := &config.Config{State: config.StateConfig{Backend: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"}}
	if d := cmp.Diff(want, of(kube), cmp.AllowUnexported(permissionNeed{})); d != "" {
		t.Errorf("kubernetes backend (-want +got):\n%s", d)
	}
	if got := of(&config.Config{State: config.StateConfig{Backend: config.StateLocal}}); len(got) > 0 {
		t.Errorf("local backend asks for %+v", got)
	}
}
