package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

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
// when given) and is Ready, waiting up to timeout for terminating pods to go.
func (p *Provider) verify(ctx context.Context, workloads []plan.ObjectRef, image, revision string, timeout time.Duration, progress func(string)) error {
	check := func(ctx context.Context) ([]string, int, error) {
		return p.podsOff(ctx, workloads, image, revision)
	}
	if timeout == 0 {
		bad, _, err := check(ctx)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	}
	ctx2, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var bad []string
	err := wait.PollUntilContextCancel(ctx2, p.pollInterval, true, func(ctx context.Context) (bool, error) {
		b, n, err := check(ctx)
		if err != nil {
			return false, err
		}
		bad = b
		if progress != nil {
			progress(fmt.Sprintf("%d/%d pods run %s", n-len(b), n, shortImage(image)))
		}
		return len(b) == 0, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(bad) > 0 {
			return fmt.Errorf("verify: %s", strings.Join(bad, "; "))
		}
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// podsOff reads the workloads' pods, namespace by namespace, and says which
// do not run image (injected by revision, when set) Ready, and how many
// pods it read.
func (p *Provider) podsOff(ctx context.Context, workloads []plan.ObjectRef, image, revision string) ([]string, int, error) {
	var bad []string
	n := 0
	byNS := map[string][]plan.ObjectRef{}
	for _, w := range workloads {
		byNS[w.Namespace] = append(byNS[w.Namespace], w)
	}
	nss := make([]string, 0, len(byNS))
	for ns := range byNS {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		snap, err := p.namespaceWorkloads(ctx, ns)
		if err != nil {
			return nil, 0, err
		}
		for _, want := range byNS[ns] {
			found := false
			for _, w := range snap {
				if string(w.Kind) != want.Kind || w.Name != want.Name {
					continue
				}
				found = true
				n += len(w.Pods)
				bad = append(bad, podProblems(ns, w.Pods, image, revision)...)
			}
			if !found {
				bad = append(bad, fmt.Sprintf("%s %s/%s has no running pods", want.Kind, ns, want.Name))
			}
		}
	}
	return bad, n, nil
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

// namespaceWorkloads reads one namespace's pods grouped by workload.
func (p *Provider) namespaceWorkloads(ctx context.Context, ns string) ([]plan.Workload, error) {
	var pods *corev1.PodList
	err := p.call(ctx, func(ctx context.Context) (err error) {
		pods, err = p.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	var rss *appsv1.ReplicaSetList
	err = p.call(ctx, func(ctx context.Context) (err error) {
		rss, err = p.cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list replicasets in %s: %w", ns, err)
	}
	live := pods.Items[:0]
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp == nil {
			live = append(live, pod)
		}
	}
	return workloadsOf(live, rss.Items, nil, nil, nil), nil
}
