package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/meshwave/meshwave/plan"
)

// A relabel step moves a namespace's injection labels to the target in one
// merge patch; it records the istio labels it found, and its rollback restores them.
var relabelOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (plan.Record, error) {
		ns, err := p.namespace(ctx, s.Object.Name)
		if err != nil {
			return nil, err
		}
		orig := plan.InjectionLabels(ns.Labels)
		if err := relabelConflict(s, orig); err != nil {
			return nil, err
		}
		return plan.RelabelRecord(orig)
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record, _ func(string)) error {
		return p.relabel(ctx, s)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ plan.Record) error {
		ns, err := p.namespace(ctx, s.Object.Name)
		if err != nil {
			return err
		}
		for k, v := range s.SetLabels {
			if ns.Labels[k] != v {
				return fmt.Errorf("namespace %s: label %s is %q, want %q%s", s.Object.Name, k, ns.Labels[k], v, labelsSetBack(ns))
			}
		}
		for _, k := range s.RemoveLabels {
			if _, ok := ns.Labels[k]; ok {
				return fmt.Errorf("namespace %s: label %s is set again%s", s.Object.Name, k, labelsSetBack(ns))
			}
		}
		return nil
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, rec plan.Record, _ func(string)) error {
		orig, err := rec.RelabelLabels()
		if err != nil {
			return fmt.Errorf("namespace %s: %w", s.Object.Name, err)
		}
		labels := map[string]any{}
		for _, k := range []string{plan.LabelInjection, plan.LabelRevision} {
			if v, ok := orig[k]; ok {
				labels[k] = v
			} else {
				labels[k] = nil
			}
		}
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			return p.patchNamespaceLabels(ctx, s.Object.Name, "", labels)
		})
	},
}

// relabelConflicts is how often a relabel reads the namespace again after
// someone else changed it between its read and its patch.
var relabelConflicts = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 1, Jitter: 0.1}

// relabel sends the step's label patch. Someone may relabel the namespace at
// any moment: the patch is sent only over the labels the plan saw (or a
// relabel already done), with their resourceVersion as a precondition, and
// a conflict reads the namespace again.
func (p *Provider) relabel(ctx context.Context, s plan.Step) error {
	labels := map[string]any{}
	for _, k := range s.RemoveLabels {
		labels[k] = nil
	}
	for k, v := range s.SetLabels {
		labels[k] = v
	}
	return retry.RetryOnConflict(relabelConflicts, func() error {
		ns, err := p.namespace(ctx, s.Object.Name)
		if err != nil {
			return err
		}
		if relabeled(s, ns.Labels) {
			return nil
		}
		if err := relabelConflict(s, plan.InjectionLabels(ns.Labels)); err != nil {
			return err
		}
		return p.patchNamespaceLabels(ctx, s.Object.Name, ns.ResourceVersion, labels)
	})
}

// namespace reads a namespace.
func (p *Provider) namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	var ns *corev1.Namespace
	err := p.call(ctx, func(ctx context.Context) (err error) {
		ns, err = p.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read namespace %s: %w", name, err)
	}
	return ns, nil
}

// relabeled reports whether a namespace's labels are what the relabel step
// makes them.
func relabeled(s plan.Step, labels map[string]string) bool {
	for k, v := range s.SetLabels {
		if labels[k] != v {
			return false
		}
	}
	for _, k := range s.RemoveLabels {
		if _, ok := labels[k]; ok {
			return false
		}
	}
	return true
}

// relabelConflict refuses to relabel a namespace whose injection labels are
// no longer those the plan saw: someone else moved it since, and relabeling
// over their change would lose it.
func relabelConflict(s plan.Step, now map[string]string) error {
	if s.SourceLabels == nil || maps.Equal(now, s.SourceLabels) {
		return nil
	}
	return fmt.Errorf("namespace %s was relabeled since the plan: its injection labels are %v, the plan saw %v; "+
		"refusing to overwrite that change: check who moved it, then plan again", s.Object.Name, fmtLabels(now), fmtLabels(s.SourceLabels))
}

func fmtLabels(m map[string]string) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// patchNamespaceLabels merges labels into a namespace; with a
// resourceVersion, only into that version of it (409 Conflict otherwise).
func (p *Provider) patchNamespaceLabels(ctx context.Context, name, resourceVersion string, labels map[string]any) error {
	meta := map[string]any{"labels": labels}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	body, err := json.Marshal(map[string]any{"metadata": meta})
	if err == nil {
		err = p.call(ctx, func(ctx context.Context) error {
			_, err := p.cs.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("relabel namespace %s: %w", name, err)
	}
	return nil
}
