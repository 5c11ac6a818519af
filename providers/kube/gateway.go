package kube

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

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

// waitGateway waits until every pod of the gateway runs image and is Ready.
// A failed read is read again at the next poll, until the timeout.
func (p *Provider) waitGateway(ctx context.Context, obj *plan.ObjectRef, image string, timeout time.Duration, progress func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, p.pollInterval, true, func(ctx context.Context) (bool, error) {
		pods, err := p.cs.CoreV1().Pods(obj.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labelApp + "=" + obj.Name})
		if err != nil {
			last = fmt.Sprintf("read the gateway pods: %v", err)
			return false, nil
		}
		var ready, total, stale int
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.DeletionTimestamp != nil {
				stale++
				continue
			}
			total++
			f := podFacts(pod)
			if f.ProxyImage != image {
				stale++
			} else if f.Ready {
				ready++
			}
		}
		last = fmt.Sprintf("%d/%d gateway pods Ready on %s", ready, total, shortImage(image))
		if progress != nil {
			progress(last)
		}
		return total > 0 && ready == total && stale == 0, nil
	})
	if err != nil {
		return fmt.Errorf("gateway %s/%s did not roll over to %s within %s: %s", obj.Namespace, obj.Name, image, timeout, last)
	}
	return nil
}
