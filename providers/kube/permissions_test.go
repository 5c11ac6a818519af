package kube

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// reviews answers the access reviews of a fake API server as RBAC would for
// a plan identity that may read and an apply identity that may also patch
// namespaces and use the state, and records who each review was about.
type reviews struct {
	mu    sync.Mutex
	about []string // "self", or "USER [GROUPS]" of a SubjectAccessReview
}

const applier = "system:serviceaccount:ci:meshwave-apply"

func (rv *reviews) install(c *cluster) {
	c.cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		rv.mu.Lock()
		rv.about = append(rv.about, "self")
		rv.mu.Unlock()
		r.Status.Allowed = false // the caller is the read-only plan identity
		return true, r, nil
	})
	c.cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		rv.mu.Lock()
		rv.about = append(rv.about, strings.TrimSpace(r.Spec.User+" "+strings.Join(r.Spec.Groups, ",")))
		rv.mu.Unlock()
		ra := r.Spec.ResourceAttributes
		// The applier's namespaced verbs are granted in meshwave only; the
		// group grants it patch on namespaces.
		switch {
		case r.Spec.User != applier:
		case ra.Resource == "namespaces":
			r.Status.Allowed = len(r.Spec.Groups) == 1 && r.Spec.Groups[0] == "ci:appliers"
		case ra.Resource == "secrets" || ra.Resource == "leases":
			r.Status.Allowed = ra.Namespace == "meshwave"
		default:
			r.Status.Allowed = true
		}
		return true, r, nil
	})
}

func (rv *reviews) list() []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]string(nil), rv.about...)
}

// The preflight asks about the identity that will apply when plan is told
// who that is: the same needs, the same cluster-wide-then-per-namespace
// order, sent as SubjectAccessReviews naming that user and its groups, and
// no SelfSubjectAccessReview. Without it, it asks about the caller.
func TestPermissionsForAnotherIdentity(t *testing.T) {
	cfg := &config.Config{
		Upgrade: config.Upgrade{From: "1-26", To: "1-27", Flavor: plan.FlavorIstio},
		Waves:   []config.WaveConfig{{Name: "canary", Namespaces: []string{"shop"}}},
		State:   config.StateConfig{Backend: config.StateKubernetes, Namespace: "meshwave", Name: "upgrade"},
	}
	denied := func(perms []plan.Permission) []string {
		var out []string
		for _, p := range perms {
			if !p.Allowed {
				out = append(out, strings.TrimSpace(p.Verb+" "+p.Resource+" "+p.Namespace))
			}
		}
		return out
	}
	tests := map[string]struct {
		who        plan.Identity
		wantAbout  string
		wantDenied []string
	}{
		"the caller": {wantAbout: "self", wantDenied: []string{"patch namespaces", "patch deployments shop", "patch statefulsets shop",
			"patch daemonsets shop", "create pods shop", "watch deployments", "watch statefulsets", "watch daemonsets", "watch replicasets",
			"watch pods", "watch events", "get secrets meshwave", "create secrets meshwave", "update secrets meshwave",
			"get leases meshwave", "create leases meshwave", "update leases meshwave", "delete leases meshwave"}},
		"the applier":             {who: plan.Identity{User: applier}, wantAbout: applier, wantDenied: []string{"patch namespaces"}},
		"the applier with groups": {who: plan.Identity{User: applier, Groups: []string{"ci:appliers"}}, wantAbout: applier + " ci:appliers"},
		"someone else": {who: plan.Identity{User: "alice"}, wantAbout: "alice", wantDenied: []string{"patch namespaces", "patch deployments shop",
			"patch statefulsets shop", "patch daemonsets shop", "create pods shop", "watch deployments", "watch statefulsets", "watch daemonsets",
			"watch replicasets", "watch pods", "watch events", "get secrets meshwave", "create secrets meshwave", "update secrets meshwave",
			"get leases meshwave", "create leases meshwave", "update leases meshwave", "delete leases meshwave"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, nil, nil)
			rv := &reviews{}
			rv.install(c)
			p := c.provider(t, plan.FlavorIstio)
			p.permissionsFor = tc.who
			perms, err := p.permissions(t.Context(), cfg, &plan.Snapshot{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantDenied, denied(perms)); diff != "" {
				t.Errorf("denied (-want +got):\n%s", diff)
			}
			about := rv.list()
			if len(about) == 0 {
				t.Fatal("no access review was sent")
			}
			for _, a := range about {
				if a != tc.wantAbout {
					t.Errorf("a review was about %q, want every one about %q", a, tc.wantAbout)
					break
				}
			}
		})
	}
}

// A caller that may not create SubjectAccessReviews gets an error that
// names whom it asked about and the permission it lacks, not a plan that
// would report every verb as missing.
func TestPermissionsForNeedsSubjectAccessReviews(t *testing.T) {
	c := newCluster(t, nil, nil)
	c.inject(failure{verb: "create", resource: "subjectaccessreviews", times: -1,
		err: apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, "", errors.New("RBAC: access denied"))})
	p := c.provider(t, plan.FlavorIstio)
	p.permissionsFor = plan.Identity{User: applier}
	_, err := p.permissions(t.Context(), &config.Config{Upgrade: config.Upgrade{Flavor: plan.FlavorIstio}}, &plan.Snapshot{})
	checkErr(t, err, "check whether user "+applier+" may patch namespaces (asking about another user needs create on subjectaccessreviews.authorization.k8s.io): "+
		"subjectaccessreviews.authorization.k8s.io is forbidden: RBAC: access denied")
}

// The watch cache's own check of Rollouts is about the process that
// watches, whoever the preflight asks about.
func TestRolloutsWatchableAsksAboutTheCaller(t *testing.T) {
	c := newCluster(t, nil, nil)
	rv := &reviews{}
	rv.install(c)
	c.cs.Resources = nil
	p := c.provider(t, plan.FlavorIstio)
	p.permissionsFor = plan.Identity{User: applier}
	for _, verb := range []string{"list", "watch"} {
		if _, err := p.canI(t.Context(), plan.Identity{}, verb, gvrRollout.Group, gvrRollout.Resource, ""); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"self", "self"}, rv.list()); diff != "" {
		t.Errorf("reviews (-want +got):\n%s", diff)
	}
}
