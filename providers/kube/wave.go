package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

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
// none is left or the time is up.
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
	type nsState struct {
		bad      []string
		pods, ok int
	}
	states := map[string]nsState{}
	dirty := map[string]bool{}
	for _, k := range keys {
		dirty[k] = true
	}
	last := ""
	for {
		for k := range dirty {
			ns := strings.TrimPrefix(k, podsKey(""))
			bad, n, ok, err := cc.podsOff(ns, byNS[ns], image, revision)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			states[ns] = nsState{bad, n, ok}
		}
		var bad []string
		total, ok := 0, 0
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
		woken, err := sleepUntil(ctx, sub, time.Time{})
		if err != nil {
			if context.Cause(ctx) != context.DeadlineExceeded {
				return context.Cause(ctx)
			}
			return fmt.Errorf("verify: %s", strings.Join(bad, "; "))
		}
		dirty = woken
	}
}

// podsOff says which pods of namespace ns's workloads do not run image
// (injected by revision, when set) Ready, and which workloads have no pod;
// and how many pods it read, and how many of them are as wanted.
func (c *clusterCache) podsOff(ns string, workloads []plan.ObjectRef, image, revision string) (bad []string, pods, ok int, err error) {
	all, err := c.podsOf(ns, labels.Everything())
	if err != nil {
		return nil, 0, 0, err
	}
	rss, err := c.replicaSetsOf(ns)
	if err != nil {
		return nil, 0, 0, err
	}
	snap := workloadsOf(&clusterObjects{pods: all, replicaSets: rss})
	for _, want := range workloads {
		found := false
		for _, w := range snap {
			if string(w.Kind) != want.Kind || w.Name != want.Name {
				continue
			}
			found = true
			probs := podProblems(ns, w.Pods, image, revision)
			pods += len(w.Pods)
			ok += len(w.Pods) - len(probs)
			bad = append(bad, probs...)
		}
		if !found {
			bad = append(bad, fmt.Sprintf("%s %s/%s has no running pods", want.Kind, ns, want.Name))
		}
	}
	return bad, pods, ok, nil
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
