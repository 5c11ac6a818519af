package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan"
)

// injectionProbes remembers, per namespace and target proxy, the answer of
// the first dry-run pod of a run: one request per namespace, whatever the
// number of its workloads.
type injectionProbes struct {
	mu      sync.Mutex
	results map[string]*probeResult
}

type probeResult struct {
	once sync.Once
	err  error
}

// probeInjection proves, before the first restart of a namespace, that the
// pods a restart will create get the target proxy: it asks the API server
// to create, with dryRun=All, a pod shaped like the workload's, which goes
// through every admission webhook as a real one would and is never stored.
// A webhook that does not answer, a quota, or labels that select another
// injector stop the wave here, before any pod is replaced.
func (p *Provider) probeInjection(ctx context.Context, s plan.Step, tmpl *corev1.PodTemplateSpec) error {
	obj := s.Object
	key := obj.Namespace + "\x00" + s.ToImage
	p.probes.mu.Lock()
	if p.probes.results == nil {
		p.probes.results = map[string]*probeResult{}
	}
	r, ok := p.probes.results[key]
	if !ok {
		r = &probeResult{}
		p.probes.results[key] = r
	}
	p.probes.mu.Unlock()
	r.once.Do(func() { r.err = p.dryRunPod(ctx, obj, tmpl, s.ToImage) })
	return r.err
}

func (p *Provider) dryRunPod(ctx context.Context, obj *plan.ObjectRef, tmpl *corev1.PodTemplateSpec, image string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: obj.Name + "-meshwave-probe-", Namespace: obj.Namespace,
			Labels: tmpl.Labels, Annotations: tmpl.Annotations},
		Spec: tmpl.Spec,
	}
	var got *corev1.Pod
	err := p.call(ctx, func(ctx context.Context) (err error) {
		got, err = p.cs.CoreV1().Pods(obj.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsInternalError(err) {
			// A webhook that did not answer: the API server's own error,
			// and the answer for every pod until the webhook is back.
			return refusal{err}
		}
		return err
	})
	if r, ok := err.(refusal); ok {
		err = r.err
	}
	what := fmt.Sprintf("a dry-run pod of %s %s/%s", obj.Kind, obj.Namespace, obj.Name)
	if err != nil {
		return fmt.Errorf("the API server refused %s, so would refuse its new pods; nothing was restarted: %w", what, err)
	}
	f := podFacts(got)
	switch {
	case f.ProxyImage == "":
		return fmt.Errorf("%s got no %s container: no injection webhook selects it (namespace %s's labels or the pod template's select none)%s; nothing was restarted",
			what, proxyContainer, obj.Namespace, p.setBackIn(ctx, obj.Namespace))
	case image != "" && f.ProxyImage != image:
		return fmt.Errorf("%s got proxy %s from revision %q, want %s: another injector than the target's selects it%s%s; nothing was restarted",
			what, f.ProxyImage, f.Revision, image, templateRevisionHint(tmpl), p.setBackIn(ctx, obj.Namespace))
	}
	return nil
}

// setBackIn says, for the message of a probe that found the wrong
// injector, who set back namespace ns's relabel (see labelsSetBack).
func (p *Provider) setBackIn(ctx context.Context, ns string) string {
	got, err := p.namespace(ctx, ns)
	if err != nil {
		return ""
	}
	return labelsSetBack(got)
}

// labelsSetBack says who last wrote a namespace's injection labels, when it
// was not meshwave: a GitOps controller that set back the wave's relabel
// (istio/istio#28967), read from the namespace's managed fields. Empty when
// meshwave wrote them last.
func labelsSetBack(ns *corev1.Namespace) string {
	manager, at := injectionLabelsWriter(ns.ManagedFields)
	if manager == "" || manager == fieldManager {
		return ""
	}
	var now []string
	for k, v := range plan.InjectionLabels(ns.Labels) {
		now = append(now, k+"="+v)
	}
	sort.Strings(now)
	when := ""
	if !at.IsZero() {
		when = " at " + at.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf(" (namespace %s's injection labels, now %q, were last written by %s%s, not by meshwave: its relabel was set back; if %s is a GitOps controller, change the label in git or move a revision tag instead)",
		ns.Name, strings.Join(now, ","), manager, when, manager)
}

// injectionLabelsWriter is the field manager that last wrote an injection
// label of an object, and when.
func injectionLabelsWriter(mfs []metav1.ManagedFieldsEntry) (string, time.Time) {
	var manager string
	var at time.Time
	for _, mf := range mfs {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]map[string]any
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) != nil {
			continue
		}
		l := fields["f:metadata"]["f:labels"]
		_, inj := l["f:"+plan.LabelInjection]
		_, rev := l["f:"+plan.LabelRevision]
		if !inj && !rev {
			continue
		}
		var t time.Time
		if mf.Time != nil {
			t = mf.Time.Time
		}
		if manager == "" || t.After(at) {
			manager, at = mf.Manager, t
		}
	}
	return manager, at
}

// refusal is an error that is not sent again: it hides from transient
// the status of the error it carries.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// templateRevisionHint names the injection labels of a pod template, the
// usual reason another injector selects its pods.
func templateRevisionHint(tmpl *corev1.PodTemplateSpec) string {
	var set []string
	for _, k := range []string{plan.LabelRevision, plan.LabelInjectPod} {
		if v, ok := tmpl.Labels[k]; ok {
			set = append(set, k+"="+v)
		}
	}
	if len(set) == 0 {
		return ""
	}
	sort.Strings(set)
	return " (its pod template is labeled " + strings.Join(set, ", ") + ")"
}
