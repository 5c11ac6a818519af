package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshwave/meshwave/plan"
)

// A restart step rolls a workload the way kubectl rollout restart does
// (an Argo Rollout, the way kubectl argo rollouts restart does), with the
// restartedAt value it recorded first, and waits for the rollout.
// Before the first restart of a namespace, a dry-run pod proves that the
// new pods will be created and get the target proxy (probeInjection).
var restartOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (plan.Record, error) {
		obj := s.Object
		tmpl, facts, err := p.restartTemplate(ctx, obj)
		if err != nil {
			return nil, err
		}
		// The plan's rule, on the workload as it is now: paused or switched
		// to OnDelete since the plan, a restart would wait for nothing.
		if reason, manual := plan.NotRollable(facts); reason != "" {
			return nil, fmt.Errorf("%s %s/%s cannot be rolled by a restart any more (%s): plan again, and %s",
				obj.Kind, obj.Namespace, obj.Name, reason, manual)
		}
		if err := p.probeInjection(ctx, s, tmpl); err != nil {
			return nil, err
		}
		return plan.RestartRecord(p.now()), nil
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, progress func(string)) error {
		return p.restartAndWait(ctx, s, rec.RestartedAt(), progress)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record) error {
		obj := s.Object
		if obj.Kind == string(plan.KindRollout) {
			return p.verifyRolloutRestart(ctx, obj, rec.RestartedAt())
		}
		tmpl, _, err := p.workloadTemplate(ctx, obj)
		if err != nil {
			return err
		}
		if got := tmpl.Annotations[annoRestartedAt]; got != rec.RestartedAt() {
			return fmt.Errorf("%s %s/%s: restartedAt is %q, want %q", obj.Kind, obj.Namespace, obj.Name, got, rec.RestartedAt())
		}
		return nil
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, progress func(string)) error {
		// A second, deterministic restart value: re-running the rollback sends
		// the same patch and does not roll the workload twice.
		return p.restartAndWait(ctx, s, rec.RollbackRestartedAt(), progress)
	},
}

// restartAndWait restarts step s's workload with value and waits for its
// rollout, once the watch cache shows the restart (awaitGeneration).
func (p *Provider) restartAndWait(ctx context.Context, s plan.Step, value string, progress func(string)) error {
	gen, uid, err := p.restart(ctx, s.Object, value)
	if err != nil {
		return err
	}
	p.awaitGeneration(ctx, s.Object, gen, uid)
	return p.waitRollouts(ctx, []plan.ObjectRef{*s.Object}, stepTimeout(s), progress)
}

// restart sets the pod template's restartedAt annotation, as kubectl rollout
// restart does; sending the same value again changes nothing. It returns
// the workload's generation and uid after the PATCH (0 for an Argo Rollout).
func (p *Provider) restart(ctx context.Context, obj *plan.ObjectRef, value string) (int64, types.UID, error) {
	if value == "" {
		return 0, "", fmt.Errorf("restart %s/%s: no recorded restartedAt value", obj.Namespace, obj.Name)
	}
	if obj.Kind == string(plan.KindRollout) {
		return 0, "", p.restartRollout(ctx, obj, value)
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{annoRestartedAt: value}}}}})
	if err != nil {
		return 0, "", err
	}
	apps := p.cs.AppsV1()
	opts := metav1.PatchOptions{}
	var patch func(ctx context.Context) (metav1.Object, error)
	switch plan.WorkloadKind(obj.Kind) {
	case plan.KindDeployment:
		patch = func(ctx context.Context) (metav1.Object, error) {
			return patched(apps.Deployments(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, opts))
		}
	case plan.KindStatefulSet:
		patch = func(ctx context.Context) (metav1.Object, error) {
			return patched(apps.StatefulSets(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, opts))
		}
	case plan.KindDaemonSet:
		patch = func(ctx context.Context) (metav1.Object, error) {
			return patched(apps.DaemonSets(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, opts))
		}
	default:
		return 0, "", fmt.Errorf("restart %s %s/%s: kind cannot be restarted", obj.Kind, obj.Namespace, obj.Name)
	}
	var got metav1.Object
	if err := p.send(ctx, func(ctx context.Context) (err error) {
		got, err = patch(ctx)
		return err
	}); err != nil {
		return 0, "", fmt.Errorf("restart %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	return got.GetGeneration(), got.GetUID(), nil
}

// patched is a typed PATCH's answer as its object metadata, nil with an
// error (never a typed nil).
func patched[T metav1.Object](obj T, err error) (metav1.Object, error) {
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// restartTemplate is workloadTemplate for a restart's prepare: read from
// the watch cache, which the restart's wait starts anyway, so that a wave
// of 3,000 restarts does not send 3,000 GETs ahead of its PATCHes. The
// cache is at most a watch event behind the server, and the plan was read
// earlier still. A workload the cache does not hold, an Argo Rollout, or a
// cache that cannot start is read from the API server, whose answer (a
// "not found", a refusal) the error then quotes.
func (p *Provider) restartTemplate(ctx context.Context, obj *plan.ObjectRef) (*corev1.PodTemplateSpec, plan.RolloutFacts, error) {
	if obj.Kind != string(plan.KindRollout) {
		if cc, err := p.cache(ctx); err == nil {
			if cached, err := cc.cachedWorkload(obj.Kind, obj.Namespace, obj.Name); err == nil {
				if tmpl, facts, ok := templateOf(cached); ok {
					return tmpl, facts, nil
				}
			}
		}
	}
	return p.workloadTemplate(ctx, obj)
}

// templateOf is a typed Deployment's, StatefulSet's or DaemonSet's pod
// template and rollout facts; false for any other object.
func templateOf(obj runtime.Object) (*corev1.PodTemplateSpec, plan.RolloutFacts, bool) {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template, deploymentRollout(w), true
	case *appsv1.StatefulSet:
		return &w.Spec.Template, statefulSetRollout(w), true
	case *appsv1.DaemonSet:
		return &w.Spec.Template, daemonSetRollout(w), true
	}
	return nil, plan.RolloutFacts{}, false
}

// workloadTemplate reads a workload's pod template and the facts
// plan.NotRollable decides on. A Rollout that takes its template from
// another object (spec.workloadRef) has none: its facts say so.
func (p *Provider) workloadTemplate(ctx context.Context, obj *plan.ObjectRef) (*corev1.PodTemplateSpec, plan.RolloutFacts, error) {
	var (
		tmpl  *corev1.PodTemplateSpec
		facts plan.RolloutFacts
		err   error
	)
	switch plan.WorkloadKind(obj.Kind) {
	case plan.KindDeployment, plan.KindStatefulSet, plan.KindDaemonSet:
		var w runtime.Object
		if w, err = p.getWorkload(ctx, obj.Kind, obj.Namespace, obj.Name); err == nil {
			tmpl, facts, _ = templateOf(w)
		}
	case plan.KindRollout:
		var ro *argoRollout
		if ro, err = p.getRollout(ctx, obj); err == nil {
			// With a workloadRef, tmpl is nil and facts say why it is not
			// restarted (NotRollable): the caller stops before reading it.
			tmpl, facts = ro.template, ro.facts
			if tmpl == nil && facts.TemplateRef == "" {
				err = fmt.Errorf("the Rollout has no spec.template")
			}
		}
	default:
		return nil, facts, fmt.Errorf("%s %s/%s cannot be restarted", obj.Kind, obj.Namespace, obj.Name)
	}
	if err != nil {
		return nil, facts, fmt.Errorf("read %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	return tmpl, facts, nil
}

// awaitGeneration waits, for at most cacheLag, until the watch cache holds
// the workload at generation gen, the one its restart's PATCH produced: a
// cache that has not seen the PATCH yet still shows the previous rollout,
// complete, and the wait would take it for this one. Past cacheLag the wait
// goes on and judges what the cache holds.
func (p *Provider) awaitGeneration(ctx context.Context, obj *plan.ObjectRef, gen int64, uid types.UID) {
	if gen == 0 {
		return
	}
	cc, err := p.cache(ctx)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cacheLag)
	defer cancel()
	sub := cc.subscribe([]string{workloadKey(obj.Kind, obj.Namespace, obj.Name)})
	defer sub.close()
	for {
		// The same object, not an earlier one of the same name that a
		// stale list may still show with a higher generation.
		if u, err := cc.workloadMeta(obj.Kind, obj.Namespace, obj.Name); err == nil && u.GetUID() == uid && u.GetGeneration() >= gen {
			return
		}
		if _, err := sleepUntil(ctx, sub, time.Time{}); err != nil {
			return
		}
	}
}

// cacheLag bounds how long a restart waits for the watch cache to show its
// PATCH.
const cacheLag = 10 * time.Second
