package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/meshwave/meshwave/plan"
)

var workloadGVR = map[string]schema.GroupVersionResource{
	string(plan.KindDeployment):  {Group: "apps", Version: "v1", Resource: "deployments"},
	string(plan.KindStatefulSet): {Group: "apps", Version: "v1", Resource: "statefulsets"},
	string(plan.KindDaemonSet):   {Group: "apps", Version: "v1", Resource: "daemonsets"},
}

// waitRollouts waits until every workload's rollout is complete by kstatus's
// rules (observed generation, updated/ready/available replicas, progress
// deadline), watching each object instead of polling it.
func (p *Provider) waitRollouts(ctx context.Context, workloads []plan.ObjectRef, timeout time.Duration, progress func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, w := range workloads {
		if err := p.waitRollout(ctx, w, progress); err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("rollout of %s %s/%s not finished within %s: %w", w.Kind, w.Namespace, w.Name, timeout, err)
			}
			return err
		}
	}
	return nil
}

func (p *Provider) waitRollout(ctx context.Context, w plan.ObjectRef, progress func(string)) error {
	gvr, ok := workloadGVR[w.Kind]
	if !ok {
		return fmt.Errorf("%s %s/%s: cannot wait for this kind", w.Kind, w.Namespace, w.Name)
	}
	res := p.dyn.Resource(gvr).Namespace(w.Namespace)
	sel := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return res.Watch(ctx, o)
		},
	}
	var last string
	// The client says whether it serves a list as a watch stream (a real
	// API server does; client-go's fake does not).
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, p.dyn), &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("%s %s/%s was deleted", w.Kind, w.Namespace, w.Name)
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		r, err := status.Compute(u)
		if err != nil {
			return false, err
		}
		if r.Message != last && progress != nil {
			progress(fmt.Sprintf("%s/%s: %s", w.Namespace, w.Name, strings.ToLower(r.Message)))
		}
		last = r.Message
		switch r.Status {
		case status.CurrentStatus:
			return true, nil
		case status.FailedStatus:
			return false, fmt.Errorf("rollout of %s %s/%s failed: %s", w.Kind, w.Namespace, w.Name, r.Message)
		}
		return false, nil
	})
	if err != nil && last != "" && !strings.Contains(err.Error(), last) {
		return fmt.Errorf("%w (last status: %s)", err, last)
	}
	return err
}
