package kube

import (
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshwave/meshwave/plan"
)

// workloadsOf groups pods by the workload a restart acts on.
func workloadsOf(pods []corev1.Pod, rss []appsv1.ReplicaSet, deps []appsv1.Deployment, stss []appsv1.StatefulSet, dss []appsv1.DaemonSet) []plan.Workload {
	ix := newWorkloadIndex(rss, deps, stss, dss)
	for i := range pods {
		pod := &pods[i]
		if !observed(pod) {
			continue
		}
		w := ix.controllerOf(pod)
		// The controller's pod template decides what its next pods are
		// (the labels the injection webhooks select on, the injector's
		// opt-out, the proxy pins); a pod without one meshwave reads (bare,
		// a Job's, an unknown controller's) speaks for itself.
		meta := &pod.ObjectMeta
		if t := ix.template(w); t != nil {
			meta = &t.ObjectMeta
		}
		w.TemplateLabels, w.TemplateAnnotations = meta.Labels, meta.Annotations
		if img := meta.Annotations[plan.AnnotationProxyImage]; img != "" {
			w.ProxyImagePin = img
		}
		if ts := meta.Annotations[plan.AnnotationInjectTemplates]; ts != "" {
			w.InjectTemplates = splitList(ts)
		}
		w.Pods = append(w.Pods, podFacts(pod))
	}
	sort.Strings(ix.order)
	out := make([]plan.Workload, 0, len(ix.order))
	for _, k := range ix.order {
		w := ix.byKey[k]
		sort.Slice(w.Pods, func(i, j int) bool { return w.Pods[i].Name < w.Pods[j].Name })
		out = append(out, *w)
	}
	return out
}

// observed reports whether a pod is part of the snapshot: not being
// deleted, and not finished (plan.PodFinished).
func observed(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && !plan.PodFinished(string(pod.Status.Phase))
}

// workloadIndex finds the workload a pod belongs to, with the rollout facts
// of its controller.
type workloadIndex struct {
	rsOwner  map[string]string // ns/rs -> deployment name
	depByKey map[string]*appsv1.Deployment
	stsByKey map[string]*appsv1.StatefulSet
	dsByKey  map[string]*appsv1.DaemonSet
	byKey    map[string]*plan.Workload
	order    []string
}

func newWorkloadIndex(rss []appsv1.ReplicaSet, deps []appsv1.Deployment, stss []appsv1.StatefulSet, dss []appsv1.DaemonSet) *workloadIndex {
	ix := &workloadIndex{rsOwner: map[string]string{}, depByKey: map[string]*appsv1.Deployment{},
		stsByKey: map[string]*appsv1.StatefulSet{}, dsByKey: map[string]*appsv1.DaemonSet{}, byKey: map[string]*plan.Workload{}}
	for _, rs := range rss {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Deployment" {
			ix.rsOwner[rs.Namespace+"/"+rs.Name] = ref.Name
		}
	}
	for i := range deps {
		ix.depByKey[deps[i].Namespace+"/"+deps[i].Name] = &deps[i]
	}
	for i := range stss {
		ix.stsByKey[stss[i].Namespace+"/"+stss[i].Name] = &stss[i]
	}
	for i := range dss {
		ix.dsByKey[dss[i].Namespace+"/"+dss[i].Name] = &dss[i]
	}
	return ix
}

func (ix *workloadIndex) get(kind plan.WorkloadKind, ns, name string) *plan.Workload {
	k := string(kind) + "/" + ns + "/" + name
	w, ok := ix.byKey[k]
	if !ok {
		w = &plan.Workload{Kind: kind, Namespace: ns, Name: name}
		ix.byKey[k] = w
		ix.order = append(ix.order, k)
	}
	return w
}

// controllerOf is the workload of pod: its Deployment (through its
// ReplicaSet), StatefulSet, DaemonSet or other controller, or the pod itself.
func (ix *workloadIndex) controllerOf(pod *corev1.Pod) *plan.Workload {
	ref := metav1.GetControllerOf(pod)
	switch {
	case ref == nil:
		return ix.get(plan.KindBarePod, pod.Namespace, pod.Name)
	case ref.Kind == "ReplicaSet" && ix.rsOwner[pod.Namespace+"/"+ref.Name] != "":
		name := ix.rsOwner[pod.Namespace+"/"+ref.Name]
		w := ix.get(plan.KindDeployment, pod.Namespace, name)
		if d := ix.depByKey[pod.Namespace+"/"+name]; d != nil {
			w.Paused = deploymentRollout(d).Paused
		}
		return w
	case ref.Kind == "StatefulSet":
		w := ix.get(plan.KindStatefulSet, pod.Namespace, ref.Name)
		if s := ix.stsByKey[pod.Namespace+"/"+ref.Name]; s != nil {
			w.UpdateStrategy = statefulSetRollout(s).UpdateStrategy
		}
		return w
	case ref.Kind == "DaemonSet":
		w := ix.get(plan.KindDaemonSet, pod.Namespace, ref.Name)
		if d := ix.dsByKey[pod.Namespace+"/"+ref.Name]; d != nil {
			w.UpdateStrategy = daemonSetRollout(d).UpdateStrategy
		}
		return w
	}
	// A Job, or a controller meshwave does not know.
	return ix.get(plan.WorkloadKind(ref.Kind), pod.Namespace, ref.Name)
}

// template is the pod template of w's controller, nil when w has none or
// it was not read.
func (ix *workloadIndex) template(w *plan.Workload) *corev1.PodTemplateSpec {
	key := w.Namespace + "/" + w.Name
	switch w.Kind {
	case plan.KindDeployment:
		if d := ix.depByKey[key]; d != nil {
			return &d.Spec.Template
		}
	case plan.KindStatefulSet:
		if s := ix.stsByKey[key]; s != nil {
			return &s.Spec.Template
		}
	case plan.KindDaemonSet:
		if d := ix.dsByKey[key]; d != nil {
			return &d.Spec.Template
		}
	}
	return nil
}

// The facts plan.NotRollable decides on, read from each kind of pod owner.
func deploymentRollout(d *appsv1.Deployment) plan.RolloutFacts {
	return plan.RolloutFacts{Kind: plan.KindDeployment, Paused: d.Spec.Paused}
}

func statefulSetRollout(s *appsv1.StatefulSet) plan.RolloutFacts {
	return plan.RolloutFacts{Kind: plan.KindStatefulSet, UpdateStrategy: string(s.Spec.UpdateStrategy.Type)}
}

func daemonSetRollout(d *appsv1.DaemonSet) plan.RolloutFacts {
	return plan.RolloutFacts{Kind: plan.KindDaemonSet, UpdateStrategy: string(d.Spec.UpdateStrategy.Type)}
}

// splitList is a comma-separated annotation's values, trimmed, empty ones
// left out.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
