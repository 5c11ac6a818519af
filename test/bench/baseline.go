package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshwave/meshwave/providers/kube"
)

// baseline is B, the least a client must do for the same upgrade, with
// client-go alone: relabel every namespace of the set to revision to (32 at
// once, the labels meshwave's plan sets), patch every Deployment's restartedAt at
// once, and hold one cluster-wide watch on the set's Deployments until every
// rollout is complete. Its client has meshwave's default rate limits, so
// the comparison is of the work, not of the throttle. It returns the wall
// time from the first request to the last rollout complete.
func (b *bench) baseline(ctx context.Context, s set, to string) (time.Duration, error) {
	cfg := rest.CopyConfig(b.env.Config)
	cfg.QPS, cfg.Burst = kube.DefaultQPS, kube.DefaultBurst
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.RunTimeout)
	defer cancel()
	start := time.Now()

	sel := metav1.ListOptions{LabelSelector: s.selector()}
	nss, err := cs.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("B: list namespaces: %w", err)
	}
	add, remove := relabel(to)
	labels := map[string]any{}
	for k, v := range add {
		labels[k] = v
	}
	for _, k := range remove {
		labels[k] = nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return 0, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, ns := range nss.Items {
		g.Go(func() error {
			_, err := cs.CoreV1().Namespaces().Patch(gctx, ns.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			if err != nil {
				return fmt.Errorf("B: relabel namespace %s: %w", ns.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}

	deps, err := cs.AppsV1().Deployments("").List(ctx, sel)
	if err != nil {
		return 0, fmt.Errorf("B: list Deployments: %w", err)
	}
	t := &rollouts{latest: map[string]*appsv1.Deployment{}, want: map[string]int64{}, done: map[string]bool{}, total: len(deps.Items)}
	for i := range deps.Items {
		t.observe(&deps.Items[i])
	}
	rv := deps.ResourceVersion
	w, err := cs.AppsV1().Deployments("").Watch(ctx, metav1.ListOptions{LabelSelector: s.selector(), ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		return 0, fmt.Errorf("B: watch Deployments: %w", err)
	}
	// w is replaced by each new watch; a failed one leaves it nil.
	defer func() {
		if w != nil {
			w.Stop()
		}
	}()

	type patched struct {
		key string
		gen int64
		err error
	}
	results := make(chan patched, len(deps.Items))
	restart := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		time.Now().Format(time.RFC3339))
	for _, d := range deps.Items {
		go func() {
			out, err := cs.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.StrategicMergePatchType, restart, metav1.PatchOptions{})
			p := patched{key: d.Namespace + "/" + d.Name, err: err}
			if err == nil {
				p.gen = out.Generation
			}
			results <- p
		}()
	}

	for len(t.done) < t.total {
		select {
		case p := <-results:
			if p.err != nil {
				return 0, fmt.Errorf("B: restart %s: %w", p.key, p.err)
			}
			t.want[p.key] = p.gen
			t.check(p.key)
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The server ends watches after a while: continue the same
				// watch from the last version seen.
				if w, err = cs.AppsV1().Deployments("").Watch(ctx, metav1.ListOptions{LabelSelector: s.selector(), ResourceVersion: rv, AllowWatchBookmarks: true}); err != nil {
					return 0, fmt.Errorf("B: watch Deployments again: %w", err)
				}
				continue
			}
			switch ev.Type {
			case watch.Error:
				status := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(status) || apierrors.IsGone(status) || statusCode(status) == http.StatusGone {
					// Too old to continue: list again, then watch from there.
					deps, err := cs.AppsV1().Deployments("").List(ctx, sel)
					if err != nil {
						return 0, fmt.Errorf("B: list Deployments again: %w", err)
					}
					for i := range deps.Items {
						t.observe(&deps.Items[i])
					}
					rv = deps.ResourceVersion
					w.Stop()
					if w, err = cs.AppsV1().Deployments("").Watch(ctx, metav1.ListOptions{LabelSelector: s.selector(), ResourceVersion: rv, AllowWatchBookmarks: true}); err != nil {
						return 0, fmt.Errorf("B: watch Deployments again: %w", err)
					}
					continue
				}
				return 0, fmt.Errorf("B: watch Deployments: %w", status)
			case watch.Bookmark:
				if d, ok := ev.Object.(*appsv1.Deployment); ok {
					rv = d.ResourceVersion
				}
			default:
				if d, ok := ev.Object.(*appsv1.Deployment); ok {
					rv = d.ResourceVersion
					t.observe(d)
				}
			}
		case <-ctx.Done():
			// Past RunTimeout, or stopped (Ctrl-C): only the first is a
			// time the rollouts took.
			after := "after " + b.opts.RunTimeout.String()
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				after = "when stopped after " + time.Since(start).Round(time.Second).String()
			}
			return 0, fmt.Errorf("B: %d of %d rollouts not complete %s (%s): %w",
				t.total-len(t.done), t.total, after, first(t.pending(), 5), ctx.Err())
		}
	}
	return time.Since(start), nil
}

func statusCode(err error) int32 {
	if s, ok := err.(apierrors.APIStatus); ok {
		return s.Status().Code
	}
	return 0
}

// rollouts tracks B's Deployments: the latest object the watch delivered
// and the generation each restart's PATCH returned. A rollout is complete
// when the controller has observed that generation and every replica is
// updated, ready and available, with no old pod left.
type rollouts struct {
	latest map[string]*appsv1.Deployment
	want   map[string]int64
	done   map[string]bool
	total  int
}

func (t *rollouts) observe(d *appsv1.Deployment) {
	key := d.Namespace + "/" + d.Name
	t.latest[key] = d
	t.check(key)
}

func (t *rollouts) check(key string) {
	d, gen := t.latest[key], t.want[key]
	if d == nil || gen == 0 || t.done[key] {
		return
	}
	if d.Status.ObservedGeneration >= gen && rolledOut(d) {
		t.done[key] = true
	}
}

func (t *rollouts) pending() []string {
	var out []string
	for key := range t.latest {
		if !t.done[key] {
			out = append(out, key)
		}
	}
	return out
}
