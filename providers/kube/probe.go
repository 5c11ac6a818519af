package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

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
		return fmt.Errorf("%s got no %s container: no injection webhook selects it (namespace %s's labels or the pod template's select none); nothing was restarted",
			what, proxyContainer, obj.Namespace)
	case image != "" && f.ProxyImage != image:
		return fmt.Errorf("%s got proxy %s from revision %q, want %s: another injector than the target's selects it%s; nothing was restarted",
			what, f.ProxyImage, f.Revision, image, templateRevisionHint(tmpl))
	}
	return nil
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
