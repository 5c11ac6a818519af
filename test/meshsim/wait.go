package meshsim

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// WaitReady waits until, in each namespace, every Deployment, StatefulSet
// and DaemonSet is rolled out, every pod is Ready and none is terminating.
// Without a deadline on ctx it gives up after two minutes. The error names
// what is still not ready.
func (s *Sim) WaitReady(ctx context.Context, namespaces ...string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	var pending []string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pending = pending[:0]
		for _, ns := range namespaces {
			p, err := s.notReady(ctx, ns)
			if err != nil {
				pending = append(pending, err.Error())
				continue
			}
			pending = append(pending, p...)
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("meshsim: not ready in %s: %s", strings.Join(namespaces, ","), strings.Join(pending, "; "))
	}
	return nil
}

// notReady lists what in a namespace is not rolled out or not Ready.
func (s *Sim) notReady(ctx context.Context, ns string) ([]string, error) {
	var out []string
	deps, err := s.kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, d := range deps.Items {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.Replicas != want || st.AvailableReplicas != want {
			out = append(out, fmt.Sprintf("deployment %s/%s (%d/%d updated, %d available)", ns, d.Name, st.UpdatedReplicas, want, st.AvailableReplicas))
		}
	}
	stss, err := s.kube.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, d := range stss.Items {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.ReadyReplicas != want || st.UpdatedReplicas != want {
			out = append(out, fmt.Sprintf("statefulset %s/%s (%d/%d ready)", ns, d.Name, st.ReadyReplicas, want))
		}
	}
	dss, err := s.kube.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, d := range dss.Items {
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.DesiredNumberScheduled == 0 || st.NumberReady != st.DesiredNumberScheduled || st.UpdatedNumberScheduled != st.DesiredNumberScheduled {
			out = append(out, fmt.Sprintf("daemonset %s/%s (%d/%d ready)", ns, d.Name, st.NumberReady, st.DesiredNumberScheduled))
		}
	}
	pods, err := s.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case p.DeletionTimestamp != nil:
			out = append(out, fmt.Sprintf("pod %s/%s terminating", ns, p.Name))
		case !PodReady(p):
			out = append(out, fmt.Sprintf("pod %s/%s not Ready", ns, p.Name))
		}
	}
	return out, nil
}

// PodReady reports whether a pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
