package kube

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshwave/meshwave/plan"
)

// A gateway step moves a gateway to the target revision, the flavor's way,
// and waits until its pods run the target proxy; it records the revision it
// found.
var gatewayOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (plan.Record, error) {
		rev, err := p.flavor.gatewayRevision(ctx, p, s.Object)
		if err != nil {
			return nil, err
		}
		return plan.GatewayRecord(rev), nil
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, progress func(string)) error {
		if err := p.flavor.setGatewayRevision(ctx, p, s.Object, s.ToRevision); err != nil {
			return err
		}
		return p.waitGateway(ctx, s.Object, s.ToImage, stepTimeout(s), progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		rev, err := p.flavor.gatewayRevision(ctx, p, s.Object)
		if err != nil {
			return err
		}
		if rev != s.ToRevision {
			return fmt.Errorf("gateway %s/%s runs on %s, want %s", s.Object.Namespace, s.Object.Name, rev, s.ToRevision)
		}
		return nil
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, progress func(string)) error {
		if err := p.flavor.setGatewayRevision(ctx, p, s.Object, rec.GatewayRevision()); err != nil {
			return err
		}
		return p.waitGateway(ctx, s.Object, s.FromImage, stepTimeout(s), progress)
	},
}

// waitGateway waits until every pod of the gateway runs image and is
// Ready, reading the run's watch cache as the pods change. It stops as soon
// as the gateway's Deployment has kept failing to create pods for
// failGrace, quoting the API server's message (a webhook of the revision
// that does not answer, say).
func (p *Provider) waitGateway(ctx context.Context, obj *plan.ObjectRef, image string, timeout time.Duration, progress func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc, err := p.cache(ctx)
	if err != nil {
		return fmt.Errorf("gateway %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	since := p.now()
	deps := cc.gatewayDeployments(obj.Namespace, obj.Name)
	keys := []string{podsKey(obj.Namespace)}
	waits := map[string]*rolloutWait{}
	for _, d := range deps {
		k := workloadKey(string(plan.KindDeployment), obj.Namespace, d)
		keys = append(keys, k)
		waits[k] = &rolloutWait{ref: plan.ObjectRef{Kind: string(plan.KindDeployment), Namespace: obj.Namespace, Name: d}}
	}
	sub := cc.subscribe(keys)
	defer sub.close()
	var last string
	// direct, when set, are the namespace's pods as the API server showed
	// them after the cache had said nothing for recheckAfter; read instead
	// of the cache's until it has news.
	var direct []corev1.Pod
	quiet := time.Now().Add(p.recheckAfter)
	for {
		pods := direct
		if pods == nil {
			if pods, err = cc.podsOf(obj.Namespace, labels.Everything()); err != nil {
				return fmt.Errorf("gateway %s/%s: %w", obj.Namespace, obj.Name, err)
			}
		}
		ready, total, stale := countGatewayPods(pods, obj.Name, image)
		if total > 0 && ready == total && stale == 0 {
			return nil
		}
		if msg := fmt.Sprintf("%d/%d gateway pods Ready on %s", ready, total, shortImage(image)); msg != last {
			last = msg
			if progress != nil {
				progress(msg)
			}
		}
		recheck, err := p.gatewayFailing(cc, waits, since)
		if err != nil {
			return fmt.Errorf("gateway %s/%s cannot roll over to %s: %w", obj.Namespace, obj.Name, shortImage(image), err)
		}
		if recheck.IsZero() || quiet.Before(recheck) {
			recheck = quiet
		}
		woken, err := sleepUntil(ctx, sub, recheck)
		if err != nil {
			if context.Cause(ctx) != context.DeadlineExceeded {
				return context.Cause(ctx)
			}
			return fmt.Errorf("gateway %s/%s did not roll over to %s within %s: %s", obj.Namespace, obj.Name, image, timeout, last)
		}
		direct = nil
		if woken != nil {
			quiet = time.Now().Add(p.recheckAfter)
			continue
		}
		if time.Now().Before(quiet) {
			continue
		}
		fresh, _, err := p.readNamespacePods(ctx, obj.Namespace)
		if err != nil {
			return fmt.Errorf("gateway %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		if r, t, s := countGatewayPods(fresh, obj.Name, image); (r != ready || t != total || s != stale) && progress != nil {
			progress(fmt.Sprintf("the API server shows what the watch did not (%d/%d gateway pods Ready on %s)", r, t, shortImage(image)))
		}
		direct = append([]corev1.Pod{}, fresh...)
		quiet = time.Now().Add(p.recheckAfter)
	}
}

// countGatewayPods counts gateway name's pods: those Ready on image, all of
// them, and those on another image.
func countGatewayPods(pods []corev1.Pod, name, image string) (ready, total, stale int) {
	for i := range pods {
		if !isGatewayPod(pods[i].Labels, name) {
			continue
		}
		total++
		f := podFacts(&pods[i])
		if f.ProxyImage != image {
			stale++
		} else if f.Ready {
			ready++
		}
	}
	return ready, total, stale
}

// gatewayFailing is the failure to create pods that a gateway Deployment's
// controller kept reporting for failGrace, or when to look again.
func (p *Provider) gatewayFailing(cc *clusterCache, waits map[string]*rolloutWait, since time.Time) (time.Time, error) {
	var recheck time.Time
	now := p.now()
	for k, rw := range waits {
		f, at, stuck := rw.failing.check(cc, k, since, now, p.failGrace)
		if stuck {
			return time.Time{}, fmt.Errorf("Deployment %s/%s cannot create pods: %s", rw.ref.Namespace, rw.ref.Name, f)
		}
		if !at.IsZero() && (recheck.IsZero() || at.Before(recheck)) {
			recheck = at
		}
	}
	return recheck, nil
}

// isGatewayPod says whether a pod with labels belongs to gateway name: its
// app label (Istio's gateway charts) or gateway-name label (Backyards's
// MeshGateway) names it.
func isGatewayPod(l map[string]string, name string) bool {
	return l[labelApp] == name || l["gateway-name"] == name
}

// gatewayDeployments are the Deployments of namespace ns whose pods are
// gateway name's.
func (c *clusterCache) gatewayDeployments(ns, name string) []string {
	deps, err := c.deps.Deployments(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range deps {
		if isGatewayPod(d.Spec.Template.Labels, name) {
			out = append(out, d.Name)
		}
	}
	sort.Strings(out)
	return out
}
