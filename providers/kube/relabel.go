package kube

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshwave/meshwave/plan"
)

// A relabel step moves a namespace's injection labels to the target in one
// merge patch; it records the istio labels it found, and its rollback restores them.
var relabelOps = stepOps{
	prepare: func(p *Provider, ctx context.Context, s plan.Step) (map[string]string, error) {
		ns, err := p.cs.CoreV1().Namespaces().Get(ctx, s.Object.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read namespace %s: %w", s.Object.Name, err)
		}
		orig := map[string]string{}
		for _, k := range []string{plan.LabelInjection, plan.LabelRevision} {
			if v, ok := ns.Labels[k]; ok {
				orig[k] = v
			}
		}
		b, _ := json.Marshal(orig)
		return map[string]string{recLabels: string(b)}, nil
	},
	run: func(p *Provider, ctx context.Context, s plan.Step, _ map[string]string, _ func(string)) error {
		labels := map[string]any{}
		for _, k := range s.RemoveLabels {
			labels[k] = nil
		}
		for k, v := range s.SetLabels {
			labels[k] = v
		}
		return p.patchNamespaceLabels(ctx, s.Object.Name, labels)
	},
	verify: func(p *Provider, ctx context.Context, s plan.Step, _ map[string]string) error {
		ns, err := p.cs.CoreV1().Namespaces().Get(ctx, s.Object.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read namespace %s: %w", s.Object.Name, err)
		}
		for k, v := range s.SetLabels {
			if ns.Labels[k] != v {
				return fmt.Errorf("namespace %s: label %s is %q, want %q", s.Object.Name, k, ns.Labels[k], v)
			}
		}
		for _, k := range s.RemoveLabels {
			if _, ok := ns.Labels[k]; ok {
				return fmt.Errorf("namespace %s: label %s is set again", s.Object.Name, k)
			}
		}
		return nil
	},
	rollback: func(p *Provider, ctx context.Context, s plan.Step, rec map[string]string, _ func(string)) error {
		orig := map[string]string{}
		if err := json.Unmarshal([]byte(rec[recLabels]), &orig); err != nil {
			return fmt.Errorf("namespace %s: recorded labels are unreadable: %w", s.Object.Name, err)
		}
		labels := map[string]any{}
		for _, k := range []string{plan.LabelInjection, plan.LabelRevision} {
			if v, ok := orig[k]; ok {
				labels[k] = v
			} else {
				labels[k] = nil
			}
		}
		return p.patchNamespaceLabels(ctx, s.Object.Name, labels)
	},
}

func (p *Provider) patchNamespaceLabels(ctx context.Context, name string, labels map[string]any) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return err
	}
	if _, err := p.cs.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("relabel namespace %s: %w", name, err)
	}
	return nil
}
