package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshwave/meshwave/plan"
)

// An eviction step rolls an OnDelete StatefulSet, which a restart cannot
// roll, by evicting its pods through the Eviction API one at a time,
// highest ordinal first, as the StatefulSet controller's own rolling update
// would: each eviction waits until the controller re-created the pod,
// Ready and injected by the target. A PodDisruptionBudget that refuses an
// eviction is waited on, never deleted past. Prepare records the uid of
// each pod: only those pods are evicted, each once, so a resumed step never
// evicts a pod that was re-created already.
var evictOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (plan.Record, error) {
		obj := s.Object
		tmpl, facts, err := p.workloadTemplate(ctx, obj)
		if err != nil {
			return nil, err
		}
		// The plan's rule, on the workload as it is now.
		if !plan.RollsByEviction(facts) {
			return nil, fmt.Errorf("%s %s/%s is not rolled by evicting its pods any more (update strategy %q): plan again",
				obj.Kind, obj.Namespace, obj.Name, facts.UpdateStrategy)
		}
		if err := p.probeInjection(ctx, s, tmpl); err != nil {
			return nil, err
		}
		uids, err := p.statefulSetPodUIDs(ctx, obj)
		if err != nil {
			return nil, err
		}
		return plan.EvictRecord(uids)
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, progress func(string)) error {
		uids, err := rec.EvictPods()
		if err != nil {
			return fmt.Errorf("evict the pods of %s %s/%s: %w", s.Object.Kind, s.Object.Namespace, s.Object.Name, err)
		}
		return p.evictPods(ctx, s, podTarget{image: s.ToImage, revision: s.ToRevision}, uids, progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		return p.verify(ctx, []plan.ObjectRef{*s.Object}, s.ToImage, s.ToRevision, 0, nil)
	},
	// A rollback evicts the pods again, the same way, onto the source proxy
	// (the relabel of the namespace is reversed before it): the pods it
	// finds when it starts, each once.
	rollback: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		cc, err := p.cache(ctx)
		if err != nil {
			return fmt.Errorf("evict the pods of %s %s/%s: %w", s.Object.Kind, s.Object.Namespace, s.Object.Name, err)
		}
		uids := map[string]string{}
		for _, pod := range cc.podsOfStatefulSet(s.Object.Namespace, s.Object.Name) {
			uids[pod.Name] = string(pod.UID)
		}
		return p.evictPods(ctx, s, podTarget{image: s.FromImage}, uids, progress)
	},
}

// podTarget is the proxy an evicted pod's replacement must run: image, and
// when set, injected by revision.
type podTarget struct{ image, revision string }

func (t podTarget) holds(pod *corev1.Pod) bool {
	f := podFacts(pod)
	return f.ProxyImage == t.image && (t.revision == "" || f.Revision == t.revision)
}

// statefulSetPodUIDs reads the uid of each live pod of a StatefulSet, by
// name.
func (p *Provider) statefulSetPodUIDs(ctx context.Context, obj *plan.ObjectRef) (map[string]string, error) {
	var pods *corev1.PodList
	err := p.call(ctx, func(ctx context.Context) (err error) {
		pods, err = p.cs.CoreV1().Pods(obj.Namespace).List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the pods of %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	uids := map[string]string{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if ownedBy(pod, obj.Name) && observed(pod) {
			uids[pod.Name] = string(pod.UID)
		}
	}
	return uids, nil
}

// ownedBy reports whether StatefulSet sts controls pod.
func ownedBy(pod *corev1.Pod, sts string) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && ref.Kind == string(plan.KindStatefulSet) && ref.Name == sts
}

// evictPods brings every pod of the step's StatefulSet onto target, one at
// a time, highest ordinal first, evicting only the pods of uids, each once.
func (p *Provider) evictPods(ctx context.Context, s plan.Step, target podTarget, uids map[string]string, progress func(string)) error {
	obj := s.Object
	timeout := stepTimeout(s)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc, err := p.cache(ctx)
	if err != nil {
		return fmt.Errorf("evict the pods of %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	names, err := cc.statefulSetPodNames(obj.Namespace, obj.Name)
	if err != nil {
		return fmt.Errorf("evict the pods of %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	sub := cc.subscribe([]string{podsKey(obj.Namespace), workloadKey(obj.Kind, obj.Namespace, obj.Name)})
	defer sub.close()
	ev := &eviction{p: p, cc: cc, sub: sub, sts: *obj, target: target, uids: uids, timeout: timeout, since: p.now(), progress: progress}
	for _, name := range names {
		if err := ev.roll(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// eviction is one run of an eviction step: what it evicts, towards what,
// and the wait it shares across the StatefulSet's pods.
type eviction struct {
	p        *Provider
	cc       *clusterCache
	sub      *subscription
	sts      plan.ObjectRef
	target   podTarget
	uids     map[string]string
	timeout  time.Duration
	since    time.Time
	progress func(string)
}

// podRoll is what an eviction knows of one pod while it rolls it.
type podRoll struct {
	name string
	// evicted is the uid of the pod this run evicted.
	evicted types.UID
	// tried is when the eviction was last sent; blocked, the budget that
	// refused it last (nil once one was accepted).
	tried   time.Time
	blocked *budgetBlock
	// failing times the controller's failure to re-create the pod.
	failing failureWatch
	last    string
}

// roll brings pod name onto the target: evicts it when it is the pod
// prepare found (not on the target), and waits until the pod the controller
// re-creates under the same name is Ready on the target.
func (e *eviction) roll(ctx context.Context, name string) error {
	pr := &podRoll{name: name}
	for {
		done, recheck, err := e.step(ctx, pr)
		if done || err != nil {
			return err
		}
		if _, err := sleepUntil(ctx, e.sub, recheck); err != nil {
			return e.notFinished(ctx, pr)
		}
	}
}

// step looks at the pod once and acts: done, or when to look again though
// nothing changed (zero: when something does), or why it cannot finish.
func (e *eviction) step(ctx context.Context, pr *podRoll) (bool, time.Time, error) {
	ns := e.sts.Namespace
	pod := e.cc.livePod(ns, pr.name)
	switch {
	case pod == nil || pod.UID == pr.evicted:
		// Being re-created; stop early if its controller cannot.
		return e.recreating(pr)
	case e.target.holds(pod):
		pr.failing = failureWatch{}
		if podFacts(pod).Ready {
			return true, time.Time{}, nil
		}
		e.report(pr, fmt.Sprintf("%s/%s: waiting for it to be Ready on %s", ns, pr.name, shortImage(e.target.image)))
		return false, time.Time{}, nil
	case e.uids[pr.name] != string(pod.UID):
		f := podFacts(pod)
		return false, time.Time{}, fmt.Errorf("pod %s/%s was re-created and runs proxy %q (revision %q), want %s%s: meshwave evicts a pod only once; check which injector selects it (the namespace's and the pod template's labels), then move it by hand",
			ns, pr.name, f.ProxyImage, f.Revision, e.target.image, revisionWant(e.target.revision))
	}
	if wait := pr.tried.Add(e.p.evictRetry); !pr.tried.IsZero() && time.Now().Before(wait) {
		return false, wait, nil
	}
	pr.tried = time.Now()
	from := podFacts(pod).ProxyImage
	block, err := e.p.evict(ctx, pod)
	switch {
	case block != nil:
		if pr.blocked == nil || pr.blocked.message != block.message {
			e.report(pr, fmt.Sprintf("evicting %s/%s: blocked by %s (%s), retrying", ns, pr.name, block.describe(ns), block.message))
		}
		pr.blocked = block
		return false, pr.tried.Add(e.p.evictRetry), nil
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Gone already, or replaced since the cache saw it (the uid
		// precondition): wait for the pod that is there now.
		pr.evicted, pr.blocked = pod.UID, nil
		return false, time.Time{}, nil
	case err != nil && ctx.Err() != nil:
		return false, time.Time{}, e.notFinished(ctx, pr) // the time ran out during the request
	case err != nil:
		return false, time.Time{}, fmt.Errorf("evict pod %s/%s: %w", ns, pr.name, err)
	}
	pr.evicted, pr.blocked = pod.UID, nil
	e.report(pr, fmt.Sprintf("evicted %s/%s (proxy %s); waiting for its new pod on %s", ns, pr.name, shortImage(from), shortImage(e.target.image)))
	return false, time.Time{}, nil
}

// recreating waits for the controller to re-create an evicted pod, and
// stops once it has kept failing to for failGrace, quoting the API server.
func (e *eviction) recreating(pr *podRoll) (bool, time.Time, error) {
	key := workloadKey(e.sts.Kind, e.sts.Namespace, e.sts.Name)
	f, again, stuck := pr.failing.check(e.cc, key, e.since, e.p.now(), e.p.failGrace)
	if stuck {
		return false, time.Time{}, fmt.Errorf("%s %s/%s cannot re-create pod %s: %s", e.sts.Kind, e.sts.Namespace, e.sts.Name, pr.name, f)
	}
	return false, again, nil
}

func (e *eviction) report(pr *podRoll, msg string) {
	if msg == pr.last || e.progress == nil {
		return
	}
	pr.last = msg
	e.progress(msg)
}

// notFinished is the error of a step whose time ran out on pod pr.
func (e *eviction) notFinished(ctx context.Context, pr *podRoll) error {
	if context.Cause(ctx) != context.DeadlineExceeded {
		return context.Cause(ctx)
	}
	ns := e.sts.Namespace
	if pr.blocked != nil {
		return fmt.Errorf("evict pod %s/%s: blocked by %s until the step's timeout (%s): %s; nothing was deleted past it",
			ns, pr.name, pr.blocked.describe(ns), e.timeout, pr.blocked.message)
	}
	return fmt.Errorf("pod %s/%s not Ready on %s within %s (last: %s)", ns, pr.name, shortImage(e.target.image), e.timeout, pr.last)
}

func revisionWant(rev string) string {
	if rev == "" {
		return ""
	}
	return " from revision " + rev
}

// evict asks the API server to evict pod, the pod with this uid only. A
// PodDisruptionBudget that refuses it is returned as a block, not an error:
// the step decides when to try again.
func (p *Provider) evict(ctx context.Context, pod *corev1.Pod) (*budgetBlock, error) {
	uid := pod.UID
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}}
	var block *budgetBlock
	// call, not send: a conflict means the pod was replaced, and is never
	// sent again.
	err := p.call(ctx, func(ctx context.Context) error {
		err := p.cs.CoreV1().Pods(pod.Namespace).EvictV1(ctx, ev)
		if b, ok := budgetOf(err); ok {
			block = b
			return nil
		}
		if multipleBudgets(err) {
			return refusal{err} // the same answer every time
		}
		return err
	})
	if r, ok := err.(refusal); ok {
		err = r.err
	}
	return block, err
}

// budgetBlock is an eviction a PodDisruptionBudget refused, in the API
// server's words.
type budgetBlock struct {
	name    string // "" when the message names none
	message string
}

func (b *budgetBlock) describe(ns string) string {
	if b.name == "" {
		return "a PodDisruptionBudget"
	}
	return "PodDisruptionBudget " + ns + "/" + b.name
}

// budgetOf reads the PodDisruptionBudget that refused an eviction from the
// API server's answer (429, or 403 for a budget whose status forbids any
// eviction), whose cause says "The disruption budget NAME ...". A 429
// without that cause is the server being busy: call retries it.
func budgetOf(err error) (*budgetBlock, bool) {
	var status apierrors.APIStatus
	if err == nil || !errors.As(err, &status) || status.Status().Details == nil {
		return nil, false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type != policyv1.DisruptionBudgetCause {
			continue
		}
		b := &budgetBlock{message: c.Message}
		if rest, ok := strings.CutPrefix(c.Message, "The disruption budget "); ok {
			b.name, _, _ = strings.Cut(rest, " ")
		}
		return b, true
	}
	return nil, false
}

// multipleBudgets reports the API server's refusal to evict a pod that more
// than one PodDisruptionBudget selects: it never passes.
func multipleBudgets(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status) && status.Status().Code == http.StatusInternalServerError &&
		strings.Contains(status.Status().Message, "more than one PodDisruptionBudget")
}

// statefulSetPodNames are the names of a StatefulSet's pods, highest
// ordinal first: name-ORDINAL for each ordinal its spec asks for.
func (c *clusterCache) statefulSetPodNames(ns, name string) ([]string, error) {
	sts, err := c.stss.StatefulSets(ns).Get(name)
	if err != nil {
		return nil, fmt.Errorf("the StatefulSet is gone: %w", err)
	}
	replicas, start := int32(1), int32(0)
	if sts.Spec.Replicas != nil {
		replicas = *sts.Spec.Replicas
	}
	if sts.Spec.Ordinals != nil {
		start = sts.Spec.Ordinals.Start
	}
	names := make([]string, 0, replicas)
	for ord := start + replicas - 1; ord >= start; ord-- {
		names = append(names, fmt.Sprintf("%s-%d", name, ord))
	}
	return names, nil
}

// podsOfStatefulSet are the live pods a StatefulSet controls, by name.
func (c *clusterCache) podsOfStatefulSet(ns, name string) []corev1.Pod {
	pods, err := c.podsOf(ns, labels.Everything())
	if err != nil {
		return nil
	}
	pods = slices.DeleteFunc(pods, func(pod corev1.Pod) bool { return !ownedBy(&pod, name) })
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

// livePod is pod ns/name from the cache, nil when there is none that is
// neither being deleted nor finished.
func (c *clusterCache) livePod(ns, name string) *corev1.Pod {
	pod, err := c.pods.Pods(ns).Get(name)
	if err != nil || !observed(pod) {
		return nil
	}
	return pod
}
