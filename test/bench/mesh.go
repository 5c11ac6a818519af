package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/test/meshsim"
	"github.com/meshwave/meshwave/test/testenv"
)

// The upgrade every case performs: the Backyards scenario's control planes.
const (
	sourceRevision = "mesh.istio-system"
	targetRevision = "cp-v17x.istio-system"
)

// Each namespace of a case has this many Deployments of replicas pods.
const (
	deploymentsPerNamespace = 3
	replicas                = 2
)

// labelSet marks a set's namespaces and workloads, so each measurement
// selects exactly its own.
const labelSet = "meshwave-bench-set"

// set is one copy of a case's mesh: N namespaces named NAME-0000…
type set struct {
	name  string
	n     int
	delay time.Duration
}

func (s set) selector() string { return labelSet + "=" + s.name }

func (s set) namespaces() []meshsim.Namespace {
	delay := map[string]string{testenv.AnnotationStartDelay: s.delay.String(), testenv.AnnotationStartDelayMax: s.delay.String()}
	out := make([]meshsim.Namespace, s.n)
	for i := range s.n {
		ns := meshsim.Namespace{Name: fmt.Sprintf("%s-%04d", s.name, i),
			Labels: map[string]string{meshsim.LabelInjection: "enabled", labelSet: s.name}}
		for j := range deploymentsPerNamespace {
			app := fmt.Sprintf("app-%d", j)
			ns.Workloads = append(ns.Workloads, meshsim.Workload{Name: app, Replicas: replicas,
				Labels: map[string]string{"app": app, labelSet: s.name}, PodAnnotations: delay})
		}
		out[i] = ns
	}
	return out
}

// create installs the set through meshsim (each namespace's injection
// proven first) and waits until every Deployment is rolled out.
func (b *bench) create(ctx context.Context, s set) error {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, ns := range s.namespaces() {
		g.Go(func() error { return b.sim.AddNamespace(gctx, ns) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("create set %s: %w", s.name, err)
	}
	if err := b.waitRolledOut(ctx, s, b.opts.SetupTimeout, "created"); err != nil {
		return err
	}
	b.logf("set %s: %d namespaces, %d Deployments rolled out in %s", s.name, s.n, s.n*deploymentsPerNamespace, since(start))
	return nil
}

// waitRolledOut waits until every Deployment of the set has rolled out its
// current template: observed, all replicas updated, ready and available,
// no old pod left. One cluster-wide LIST a second.
func (b *bench) waitRolledOut(ctx context.Context, s set, timeout time.Duration, what string) error {
	want := s.n * deploymentsPerNamespace
	var pending []string
	var seen int
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		deps, err := b.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
		if err != nil {
			pending = []string{"list: " + err.Error()}
			return false, nil
		}
		seen, pending = len(deps.Items), pending[:0]
		for i := range deps.Items {
			if !rolledOut(&deps.Items[i]) {
				pending = append(pending, deps.Items[i].Namespace+"/"+deps.Items[i].Name)
			}
		}
		return seen == want && len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("set %s (%s): Deployments not rolled out within %s: %d of %d exist, %d not rolled out (%s): %w",
			s.name, what, timeout, seen, want, len(pending), first(pending, 5), err)
	}
	return nil
}

// rolledOut is what `kubectl rollout status` waits for.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.Replicas == want &&
		st.ReadyReplicas == want && st.AvailableReplicas == want
}

// onRevision waits until every pod of the set is Ready and injected by
// revision rev, and no other pod of it is left: the move happened.
func (b *bench) onRevision(ctx context.Context, s set, rev string) error {
	want := s.n * deploymentsPerNamespace * replicas
	var good, total int
	var bad []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := b.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
		if err != nil {
			bad = []string{"list: " + err.Error()}
			return false, nil
		}
		good, total, bad = 0, len(pods.Items), bad[:0]
		for i := range pods.Items {
			p := &pods.Items[i]
			got := plan.PodRevision(p.Labels, p.Annotations)
			if p.DeletionTimestamp == nil && meshsim.PodReady(p) && got == rev {
				good++
				continue
			}
			bad = append(bad, fmt.Sprintf("%s/%s (revision %q)", p.Namespace, p.Name, got))
		}
		return good == want && total == want, nil
	})
	if err != nil {
		return fmt.Errorf("set %s: after the move %d of %d pods are Ready on %s (%d pods in all; others: %s): %w",
			s.name, good, want, rev, total, first(bad, 5), err)
	}
	return nil
}

// replicaSets counts the ReplicaSets of each of the set's Deployments
// (namespace/name): one more for every rollout of a new template.
func (b *bench) replicaSets(ctx context.Context, s set) (map[string]int, error) {
	rss, err := b.cs.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
	if err != nil {
		return nil, fmt.Errorf("set %s: list ReplicaSets: %w", s.name, err)
	}
	count := map[string]int{}
	for _, rs := range rss.Items {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" {
				count[rs.Namespace+"/"+o.Name]++
			}
		}
	}
	return count, nil
}

// rolledTwice lists the Deployments that gained more than one ReplicaSet
// from before to after: the upgrade's restart makes one.
func rolledTwice(before, after map[string]int) []string {
	var out []string
	for d, n := range after {
		if n > before[d]+1 {
			out = append(out, fmt.Sprintf("%s (%d ReplicaSets, %d before)", d, n, before[d]))
		}
	}
	slices.Sort(out)
	return out
}

// relabel is how a set's namespaces move to revision rev: the labels to
// set, and the ones to remove. The set is created with the source
// revision's Backyards label; the target's is istio.io/rev, the labels
// meshwave's plan sets.
func relabel(rev string) (add map[string]string, remove []string) {
	if rev == sourceRevision {
		return map[string]string{meshsim.LabelInjection: "enabled"}, []string{plan.LabelRevision}
	}
	return map[string]string{plan.LabelRevision: rev}, []string{meshsim.LabelInjection}
}

// remove deletes the set's namespaces and waits until they are gone, so
// the next measurement reads a cluster of the same size.
func (b *bench) remove(ctx context.Context, s set) error {
	start := time.Now()
	list, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
	if err != nil {
		return fmt.Errorf("set %s: list namespaces: %w", s.name, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, ns := range list.Items {
		g.Go(func() error {
			err := b.cs.CoreV1().Namespaces().Delete(gctx, ns.Name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("set %s: delete namespace %s: %w", s.name, ns.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	left := len(list.Items)
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, b.opts.SetupTimeout, true, func(ctx context.Context) (bool, error) {
		l, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
		if err != nil {
			return false, nil
		}
		left = len(l.Items)
		return left == 0, nil
	})
	if err != nil {
		return fmt.Errorf("set %s: %d of %d namespaces still not deleted after %s: %w", s.name, left, len(list.Items), b.opts.SetupTimeout, err)
	}
	b.logf("set %s: deleted in %s", s.name, since(start))
	return nil
}

// namespaceNames lists the set's namespaces, sorted as created.
func (s set) namespaceNames() []string {
	out := make([]string, s.n)
	for i := range s.n {
		out[i] = fmt.Sprintf("%s-%04d", s.name, i)
	}
	return out
}

func first(list []string, n int) string {
	if len(list) == 0 {
		return "none"
	}
	if len(list) > n {
		return strings.Join(list[:n], ", ") + ", …"
	}
	return strings.Join(list, ", ")
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
