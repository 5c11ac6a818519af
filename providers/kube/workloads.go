package kube

import (
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
)

// workloadsOf groups o's pods by the workload a restart acts on: the top of
// each pod's owner chain, as far as o holds it (its ReplicaSets, workloads
// and Rollouts; the ones it lacks end the chain where it is).
func workloadsOf(o *clusterObjects) []plan.Workload {
	ix := newWorkloadIndex(o)
	for i := range o.pods {
		pod := &o.pods[i]
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
	rsOwner  map[string]*metav1.OwnerReference // ns/rs -> its controller
	depByKey map[string]*appsv1.Deployment
	stsByKey map[string]*appsv1.StatefulSet
	dsByKey  map[string]*appsv1.DaemonSet
	roByKey  map[string]*argoRollout
	byKey    map[string]*plan.Workload
	order    []string
}

func newWorkloadIndex(o *clusterObjects) *workloadIndex {
	ix := &workloadIndex{rsOwner: map[string]*metav1.OwnerReference{}, depByKey: map[string]*appsv1.Deployment{},
		stsByKey: map[string]*appsv1.StatefulSet{}, dsByKey: map[string]*appsv1.DaemonSet{},
		roByKey: rolloutsOf(o.crs[gvrRollout]), byKey: map[string]*plan.Workload{}}
	for i := range o.replicaSets {
		rs := &o.replicaSets[i]
		if ref := metav1.GetControllerOf(rs); ref != nil {
			ix.rsOwner[rs.Namespace+"/"+rs.Name] = ref
		}
	}
	for i := range o.deployments {
		ix.depByKey[o.deployments[i].Namespace+"/"+o.deployments[i].Name] = &o.deployments[i]
	}
	for i := range o.statefulSets {
		ix.stsByKey[o.statefulSets[i].Namespace+"/"+o.statefulSets[i].Name] = &o.statefulSets[i]
	}
	for i := range o.daemonSets {
		ix.dsByKey[o.daemonSets[i].Namespace+"/"+o.daemonSets[i].Name] = &o.daemonSets[i]
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

// controllerOf is the workload of pod: the top of its owner chain. A
// ReplicaSet leads to its Deployment or Rollout; a Deployment, StatefulSet
// or DaemonSet that a controller meshwave does not know owns (a Knative
// Revision, an operator's custom resource) leads to that owner, which then
// is the workload, named for the manual follow-up; a pod without a
// controller is its own.
func (ix *workloadIndex) controllerOf(pod *corev1.Pod) *plan.Workload {
	ns := pod.Namespace
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return ix.get(plan.KindBarePod, ns, pod.Name)
	}
	if ref.Kind == "ReplicaSet" && isBuiltin(ref.APIVersion) {
		if owner := ix.rsOwner[ns+"/"+ref.Name]; owner != nil {
			ref = owner
		}
	}
	key := ns + "/" + ref.Name
	if isArgoRollout(ref.APIVersion, ref.Kind) {
		w := ix.get(plan.KindRollout, ns, ref.Name)
		if ro := ix.roByKey[key]; ro != nil {
			w.Paused, w.TemplateRef = ro.facts.Paused, ro.facts.TemplateRef
		}
		return w
	}
	if !isBuiltin(ref.APIVersion) {
		return ix.unknownOwner(ns, ref)
	}
	var obj metav1.Object // nil: not read, or not a kind meshwave restarts
	var facts plan.RolloutFacts
	switch ref.Kind {
	case string(plan.KindDeployment):
		if d := ix.depByKey[key]; d != nil {
			obj, facts = d, deploymentRollout(d)
		}
	case string(plan.KindStatefulSet):
		if s := ix.stsByKey[key]; s != nil {
			obj, facts = s, statefulSetRollout(s)
		}
	case string(plan.KindDaemonSet):
		if d := ix.dsByKey[key]; d != nil {
			obj, facts = d, daemonSetRollout(d)
		}
	}
	if obj != nil {
		if top := metav1.GetControllerOf(obj); top != nil {
			return ix.unknownOwner(ns, top)
		}
	}
	// Its own workload; for a Job, or a ReplicaSet of its own, the rule
	// says what to do (plan.NotRollable).
	w := ix.get(plan.WorkloadKind(ref.Kind), ns, ref.Name)
	w.Paused, w.UpdateStrategy = facts.Paused, facts.UpdateStrategy
	return w
}

// unknownOwner is the workload of pods whose owner chain ends at ref, a
// controller meshwave does not restart: a restart of what it owns would be
// undone or repeated by it, so a person restarts the pods through it.
func (ix *workloadIndex) unknownOwner(ns string, ref *metav1.OwnerReference) *plan.Workload {
	w := ix.get(plan.WorkloadKind(ref.Kind), ns, ref.Name)
	w.Group = groupOf(ref.APIVersion)
	if w.Group == "" {
		w.Group = "core" // a built-in kind that owns a workload: still not one to restart
	}
	return w
}

// isBuiltin says whether apiVersion is of a group Kubernetes itself serves
// the workloads of: core, apps, batch.
func isBuiltin(apiVersion string) bool {
	switch groupOf(apiVersion) {
	case "", "apps", "batch":
		return true
	}
	return false
}

func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return apiVersion
	}
	return gv.Group
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
	case plan.KindRollout:
		if ro := ix.roByKey[key]; ro != nil {
			return ro.template
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
