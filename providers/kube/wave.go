package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshwave/meshwave/plan"
)

// A wave's wait step waits for the rollouts its restarts started; it
// changes nothing, so its rollback waits for the rollback restarts.
var waitOps = stepOps{
	prepare: noRecord,
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		return p.waitRollouts(ctx, s.Workloads, stepTimeout(s), progress)
	},
	verify: func(*Provider, context.Context, plan.Step, plan.Record) error { return nil },
	rollback: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		return p.waitRollouts(ctx, s.Workloads, stepTimeout(s), progress)
	},
}

// A wave's verify step checks that every pod of the wave runs the target
// proxy, injected by the target revision, and is Ready; its rollback checks the
// same of the source proxy.
var verifyOps = stepOps{
	prepare: noRecord,
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		return p.verify(ctx, s.Workloads, s.ToImage, s.ToRevision, stepTimeout(s), progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		return p.verify(ctx, s.Workloads, s.ToImage, s.ToRevision, 0, nil)
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		return p.verify(ctx, s.Workloads, s.FromImage, "", stepTimeout(s), progress)
	},
}

// verify checks that every pod of the workloads runs image (and revision,
// when given) and is Ready, reading the run's watch cache: with a timeout it
// waits, looking again at a namespace whenever one of its pods changes, until
// none is left or the time is up. A watch can miss a change (one that
// happened while the API server restarted, say), so when nothing has
// changed for recheckAfter, the namespaces still off are read again from the
// API server itself.
func (p *Provider) verify(ctx context.Context, workloads []plan.ObjectRef, image, revision string, timeout time.Duration, progress func(string)) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cc, err := p.cache(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	byNS := map[string][]plan.ObjectRef{}
	var keys []string
	for _, w := range workloads {
		if byNS[w.Namespace] == nil {
			keys = append(keys, podsKey(w.Namespace))
		}
		byNS[w.Namespace] = append(byNS[w.Namespace], w)
	}
	sub := cc.subscribe(keys)
	defer sub.close()
	states := map[string]podsState{}
	dirty := map[string]bool{}
	for _, k := range keys {
		dirty[k] = true
	}
	last := ""
	recheck := time.Now().Add(p.recheckAfter)
	for {
		for k := range dirty {
			ns := strings.TrimPrefix(k, podsKey(""))
			pods, rss, err := cc.namespacePods(ns)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			states[ns] = podsOff(ns, pods, rss, byNS[ns], image, revision)
		}
		bad, total, ok := sumStates(states)
		if len(bad) == 0 {
			return nil
		}
		if timeout == 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		if msg := fmt.Sprintf("%d/%d pods run %s", ok, total, shortImage(image)); msg != last && progress != nil {
			last = msg
			progress(msg)
		}
		woken, err := sleepUntil(ctx, sub, recheck)
		if err != nil {
			if context.Cause(ctx) != context.DeadlineExceeded {
				return context.Cause(ctx)
			}
			return fmt.Errorf("verify: %s", strings.Join(bad, "; "))
		}
		dirty = woken
		if woken != nil {
			recheck = time.Now().Add(p.recheckAfter)
			continue
		}
		if err := p.recheckPods(ctx, states, byNS, image, revision, progress); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		recheck = time.Now().Add(p.recheckAfter)
	}
}

// podsState is what verify knows of one namespace: which of its pods are
// off and why, how many pods it read and how many of them are as wanted.
type podsState struct {
	bad      []string
	pods, ok int
}

// sumStates adds up the namespaces' states, the problems in namespace order.
func sumStates(states map[string]podsState) (bad []string, total, ok int) {
	nss := make([]string, 0, len(states))
	for ns := range states {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		bad = append(bad, states[ns].bad...)
		total += states[ns].pods
		ok += states[ns].ok
	}
	return bad, total, ok
}

// recheckPods reads again from the API server each namespace whose pods are
// still off, and takes what it reads over the watch cache's view, saying so
// when the two differ.
func (p *Provider) recheckPods(ctx context.Context, states map[string]podsState, byNS map[string][]plan.ObjectRef, image, revision string, progress func(string)) error {
	for ns, st := range states {
		if len(st.bad) == 0 {
			continue
		}
		pods, rss, err := p.readNamespacePods(ctx, ns)
		if err != nil {
			return err
		}
		fresh := podsOff(ns, pods, rss, byNS[ns], image, revision)
		if !slices.Equal(fresh.bad, st.bad) && progress != nil {
			progress(fmt.Sprintf("%s: the API server shows what the watch did not (%d/%d pods as wanted, not %d/%d)", ns, fresh.ok, fresh.pods, st.ok, st.pods))
		}
		states[ns] = fresh
	}
	return nil
}

// podsOff says which pods of namespace ns's workloads do not run image
// (injected by revision, when set) Ready, and which workloads have no pod;
// and how many pods it read, and how many of them are as wanted; from the
// namespace's live pods and its ReplicaSets.
func podsOff(ns string, all []corev1.Pod, rss []appsv1.ReplicaSet, workloads []plan.ObjectRef, image, revision string) podsState {
	var st podsState
	snap := workloadsOf(&clusterObjects{pods: all, replicaSets: rss})
	for _, want := range workloads {
		found := false
		for _, w := range snap {
			if string(w.Kind) != want.Kind || w.Name != want.Name {
				continue
			}
			found = true
			probs := podProblems(ns, w.Pods, image, revision)
			st.pods += len(w.Pods)
			st.ok += len(w.Pods) - len(probs)
			st.bad = append(st.bad, probs...)
		}
		if !found {
			st.bad = append(st.bad, fmt.Sprintf("%s %s/%s has no running pods", want.Kind, ns, want.Name))
		}
	}
	return st
}

// podProblems says, per pod, why it does not run image, injected by
// revision (when set), and Ready.
func podProblems(ns string, pods []plan.Pod, image, revision string) []string {
	var bad []string
	for _, pod := range pods {
		switch {
		case pod.ProxyImage != image:
			bad = append(bad, fmt.Sprintf("pod %s/%s runs proxy %q, want %q", ns, pod.Name, pod.ProxyImage, image))
		case revision != "" && pod.Revision != revision:
			bad = append(bad, fmt.Sprintf("pod %s/%s has istio.io/rev=%q, want %q", ns, pod.Name, pod.Revision, revision))
		case !pod.Ready:
			bad = append(bad, fmt.Sprintf("pod %s/%s is not Ready", ns, pod.Name))
		}
	}
	return bad
}
