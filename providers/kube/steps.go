package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/meshwave/meshwave/plan"
)

// Keys of the values a step records before it changes anything.
const (
	recLabels       = "labels"       // relabel: JSON of the original istio labels ({} when none)
	recRestartedAt  = "restartedAt"  // restart: the value the restart sends
	recControlPlane = "controlPlane" // gateway: the original revision
	recUID          = "uid"          // uninstall: the control plane object's uid
	recRevision     = "revision"     // tag: the revision the tag pointed at
)

// Prepare reads what step will change; it changes nothing.
func (p *Provider) Prepare(ctx context.Context, step plan.Step) (map[string]string, error) {
	obj := step.Object
	switch step.Kind {
	case plan.StepNamespaceRelabel:
		ns, err := p.cs.CoreV1().Namespaces().Get(ctx, obj.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read namespace %s: %w", obj.Name, err)
		}
		orig := map[string]string{}
		for _, k := range []string{plan.LabelInjection, plan.LabelRevision} {
			if v, ok := ns.Labels[k]; ok {
				orig[k] = v
			}
		}
		b, _ := json.Marshal(orig)
		return map[string]string{recLabels: string(b)}, nil
	case plan.StepWorkloadRestart:
		_, facts, err := p.templateAnnotations(ctx, obj)
		if err != nil {
			return nil, err
		}
		// The plan's rule, on the workload as it is now: paused or switched
		// to OnDelete since the plan, a restart would wait for nothing.
		if reason, manual := plan.NotRollable(facts); reason != "" {
			return nil, fmt.Errorf("%s %s/%s cannot be rolled by a restart any more (%s): plan again, and %s",
				obj.Kind, obj.Namespace, obj.Name, reason, manual)
		}
		return map[string]string{
			recRestartedAt: p.now().UTC().Format(time.RFC3339Nano),
		}, nil
	case plan.StepTagMove:
		return p.prepareTag(ctx, step)
	case plan.StepGatewayMigrate:
		rev, err := p.gatewayRevision(ctx, obj)
		if err != nil {
			return nil, err
		}
		return map[string]string{recControlPlane: rev}, nil
	case plan.StepUninstall:
		if obj.Name == "" {
			return map[string]string{recUID: ""}, nil
		}
		u, err := p.dyn.Resource(gvrForKind(obj.Kind)).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return map[string]string{recUID: ""}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
		}
		return map[string]string{recUID: string(u.GetUID())}, nil
	}
	return map[string]string{}, nil
}

// Run performs step. Given the same record it sends the same change, so a
// step interrupted half-way is re-run safely.
func (p *Provider) Run(ctx context.Context, step plan.Step, rec map[string]string, progress func(string)) error {
	obj := step.Object
	switch step.Kind {
	case plan.StepNamespaceRelabel:
		labels := map[string]any{}
		for _, k := range step.RemoveLabels {
			labels[k] = nil
		}
		for k, v := range step.SetLabels {
			labels[k] = v
		}
		return p.patchNamespaceLabels(ctx, obj.Name, labels)
	case plan.StepWorkloadRestart:
		if err := p.restart(ctx, obj, rec[recRestartedAt]); err != nil {
			return err
		}
		return p.waitRollouts(ctx, []plan.ObjectRef{*obj}, stepTimeout(step), progress)
	case plan.StepTagMove:
		return p.repointTag(ctx, tagName(step), step.ToRevision)
	case plan.StepGatewayMigrate:
		if err := p.setGatewayRevision(ctx, obj, step.ToRevision); err != nil {
			return err
		}
		return p.waitGateway(ctx, obj, step.ToImage, stepTimeout(step), progress)
	case plan.StepWaveWait:
		return p.waitRollouts(ctx, step.Workloads, stepTimeout(step), progress)
	case plan.StepWaveVerify:
		return p.verify(ctx, step.Workloads, step.ToImage, step.ToRevision, stepTimeout(step), progress)
	case plan.StepUninstall:
		return p.uninstall(ctx, step, progress)
	}
	return fmt.Errorf("step %s: kind %q is not performed by the cluster provider", step.ID, step.Kind)
}

// Check confirms cheaply that a step recorded as done still holds.
func (p *Provider) Check(ctx context.Context, step plan.Step, rec map[string]string) error {
	obj := step.Object
	switch step.Kind {
	case plan.StepNamespaceRelabel:
		ns, err := p.cs.CoreV1().Namespaces().Get(ctx, obj.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read namespace %s: %w", obj.Name, err)
		}
		for k, v := range step.SetLabels {
			if ns.Labels[k] != v {
				return fmt.Errorf("namespace %s: label %s is %q, want %q", obj.Name, k, ns.Labels[k], v)
			}
		}
		for _, k := range step.RemoveLabels {
			if _, ok := ns.Labels[k]; ok {
				return fmt.Errorf("namespace %s: label %s is set again", obj.Name, k)
			}
		}
		return nil
	case plan.StepWorkloadRestart:
		tmpl, _, err := p.templateAnnotations(ctx, obj)
		if err != nil {
			return err
		}
		if tmpl[annoRestartedAt] != rec[recRestartedAt] {
			return fmt.Errorf("%s %s/%s: restartedAt is %q, want %q", obj.Kind, obj.Namespace, obj.Name, tmpl[annoRestartedAt], rec[recRestartedAt])
		}
		return nil
	case plan.StepTagMove:
		return p.checkTag(ctx, step)
	case plan.StepGatewayMigrate:
		rev, err := p.gatewayRevision(ctx, obj)
		if err != nil {
			return err
		}
		if rev != step.ToRevision {
			return fmt.Errorf("gateway %s/%s runs on %s, want %s", obj.Namespace, obj.Name, rev, step.ToRevision)
		}
		return nil
	case plan.StepWaveWait:
		return nil
	case plan.StepWaveVerify:
		return p.verify(ctx, step.Workloads, step.ToImage, step.ToRevision, 0, nil)
	case plan.StepUninstall:
		if obj == nil || obj.Name == "" {
			return nil
		}
		_, err := p.dyn.Resource(gvrForKind(obj.Kind)).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if err == nil {
			return fmt.Errorf("%s %s/%s still exists", obj.Kind, obj.Namespace, obj.Name)
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	return nil
}

// Undo reverses a step with what Prepare recorded.
func (p *Provider) Undo(ctx context.Context, step plan.Step, rec map[string]string, progress func(string)) error {
	obj := step.Object
	switch step.Kind {
	case plan.StepNamespaceRelabel:
		orig := map[string]string{}
		if err := json.Unmarshal([]byte(rec[recLabels]), &orig); err != nil {
			return fmt.Errorf("namespace %s: recorded labels are unreadable: %w", obj.Name, err)
		}
		labels := map[string]any{}
		for _, k := range []string{plan.LabelInjection, plan.LabelRevision} {
			if v, ok := orig[k]; ok {
				labels[k] = v
			} else {
				labels[k] = nil
			}
		}
		return p.patchNamespaceLabels(ctx, obj.Name, labels)
	case plan.StepWorkloadRestart:
		// A second, deterministic restart value: re-running the undo sends
		// the same patch and does not roll the workload twice.
		value := rec[plan.RecordUndoAt]
		if value == "" {
			value = rec[recRestartedAt] + "+rollback"
		}
		if err := p.restart(ctx, obj, value); err != nil {
			return err
		}
		return p.waitRollouts(ctx, []plan.ObjectRef{*obj}, stepTimeout(step), progress)
	case plan.StepTagMove:
		return p.repointTag(ctx, tagName(step), rec[recRevision])
	case plan.StepGatewayMigrate:
		if err := p.setGatewayRevision(ctx, obj, rec[recControlPlane]); err != nil {
			return err
		}
		return p.waitGateway(ctx, obj, step.FromImage, stepTimeout(step), progress)
	case plan.StepWaveWait:
		return p.waitRollouts(ctx, step.Workloads, stepTimeout(step), progress)
	case plan.StepWaveVerify:
		return p.verify(ctx, step.Workloads, step.FromImage, "", stepTimeout(step), progress)
	case plan.StepUninstall:
		return fmt.Errorf("%s %s/%s was uninstalled; reinstall it to roll back", obj.Kind, obj.Namespace, obj.Name)
	}
	return nil
}

func stepTimeout(step plan.Step) time.Duration {
	if step.TimeoutSecond > 0 {
		return time.Duration(step.TimeoutSecond) * time.Second
	}
	return plan.DefaultWaveTimeout
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

// restart sets the pod template's restartedAt annotation, as kubectl rollout
// restart does; sending the same value again changes nothing.
func (p *Provider) restart(ctx context.Context, obj *plan.ObjectRef, value string) error {
	if value == "" {
		return fmt.Errorf("restart %s/%s: no recorded restartedAt value", obj.Namespace, obj.Name)
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{annoRestartedAt: value}}}}})
	if err != nil {
		return err
	}
	apps := p.cs.AppsV1()
	switch plan.WorkloadKind(obj.Kind) {
	case plan.KindDeployment:
		_, err = apps.Deployments(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	case plan.KindStatefulSet:
		_, err = apps.StatefulSets(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	case plan.KindDaemonSet:
		_, err = apps.DaemonSets(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	default:
		return fmt.Errorf("restart %s %s/%s: kind cannot be restarted", obj.Kind, obj.Namespace, obj.Name)
	}
	if err != nil {
		return fmt.Errorf("restart %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	return nil
}

// templateAnnotations reads a workload's pod template annotations and the
// facts plan.NotRollable decides on.
func (p *Provider) templateAnnotations(ctx context.Context, obj *plan.ObjectRef) (map[string]string, plan.RolloutFacts, error) {
	apps := p.cs.AppsV1()
	var (
		anno  map[string]string
		facts plan.RolloutFacts
		err   error
	)
	switch plan.WorkloadKind(obj.Kind) {
	case plan.KindDeployment:
		dep, e := apps.Deployments(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if e == nil {
			anno, facts = dep.Spec.Template.Annotations, deploymentRollout(dep)
		}
		err = e
	case plan.KindStatefulSet:
		sts, e := apps.StatefulSets(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if e == nil {
			anno, facts = sts.Spec.Template.Annotations, statefulSetRollout(sts)
		}
		err = e
	case plan.KindDaemonSet:
		ds, e := apps.DaemonSets(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if e == nil {
			anno, facts = ds.Spec.Template.Annotations, daemonSetRollout(ds)
		}
		err = e
	default:
		return nil, facts, fmt.Errorf("%s %s/%s cannot be restarted", obj.Kind, obj.Namespace, obj.Name)
	}
	if err != nil {
		return nil, facts, fmt.Errorf("read %s %s/%s: %w", obj.Kind, obj.Namespace, obj.Name, err)
	}
	return anno, facts, nil
}

// gvrForKind is the resource of a control plane's installing object.
func gvrForKind(kind string) schema.GroupVersionResource {
	switch kind {
	case "Istio":
		return gvrIstio
	case "IstioOperator":
		return gvrIstioOperator
	}
	gvr, _ := gvrOf(kind)
	return gvr
}

// gatewayRevision reads the revision a gateway belongs to.
func (p *Provider) gatewayRevision(ctx context.Context, obj *plan.ObjectRef) (string, error) {
	if p.flavor == plan.FlavorIstio {
		d, err := p.cs.AppsV1().Deployments(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("read gateway %s/%s: %w", obj.Namespace, obj.Name, err)
		}
		return d.Spec.Template.Labels[plan.LabelRevision], nil
	}
	u, err := p.dyn.Resource(gvrMeshGateway).Namespace(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read MeshGateway %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	name, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "name")
	ns, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "namespace")
	return plan.BackyardsRevision(name, ns), nil
}

// setGatewayRevision moves a gateway to a revision: the MeshGateway's
// spec.istioControlPlane (backyards), or the gateway Deployment's pod
// template istio.io/rev label (istio).
func (p *Provider) setGatewayRevision(ctx context.Context, obj *plan.ObjectRef, rev string) error {
	if p.flavor == plan.FlavorIstio {
		body, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]string{plan.LabelRevision: rev}}}}})
		if _, err := p.cs.AppsV1().Deployments(obj.Namespace).Patch(ctx, obj.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("move gateway %s/%s to %s: %w", obj.Namespace, obj.Name, rev, err)
		}
		return nil
	}
	name, ns, ok := plan.ParseBackyardsRevision(rev)
	if !ok {
		return fmt.Errorf("move gateway %s/%s: revision %q is not <name>.<namespace>", obj.Namespace, obj.Name, rev)
	}
	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"istioControlPlane": map[string]string{
		"name": name, "namespace": ns}}})
	if _, err := p.dyn.Resource(gvrMeshGateway).Namespace(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("move MeshGateway %s/%s to %s: %w", obj.Namespace, obj.Name, rev, err)
	}
	return nil
}

// waitGateway waits until every pod of the gateway runs image and is Ready.
func (p *Provider) waitGateway(ctx context.Context, obj *plan.ObjectRef, image string, timeout time.Duration, progress func(string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := p.cs.CoreV1().Pods(obj.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labelApp + "=" + obj.Name})
		if err != nil {
			return false, nil
		}
		var ready, total int
		var stale []string
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.DeletionTimestamp != nil {
				stale = append(stale, pod.Name)
				continue
			}
			total++
			f := podFacts(pod)
			if f.ProxyImage != image {
				stale = append(stale, pod.Name)
			} else if f.Ready {
				ready++
			}
		}
		last = fmt.Sprintf("%d/%d gateway pods Ready on %s", ready, total, shortImage(image))
		if progress != nil {
			progress(last)
		}
		return total > 0 && ready == total && len(stale) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("gateway %s/%s did not roll over to %s within %s: %s", obj.Namespace, obj.Name, image, timeout, last)
	}
	return nil
}

// verify checks that every pod of the workloads runs image (and revision,
// when given) and is Ready, waiting up to timeout for terminating pods to go.
func (p *Provider) verify(ctx context.Context, workloads []plan.ObjectRef, image, revision string, timeout time.Duration, progress func(string)) error {
	check := func(ctx context.Context) ([]string, int, error) {
		var bad []string
		n := 0
		byNS := map[string][]plan.ObjectRef{}
		for _, w := range workloads {
			byNS[w.Namespace] = append(byNS[w.Namespace], w)
		}
		nss := make([]string, 0, len(byNS))
		for ns := range byNS {
			nss = append(nss, ns)
		}
		sort.Strings(nss)
		for _, ns := range nss {
			snap, err := p.namespaceWorkloads(ctx, ns)
			if err != nil {
				return nil, 0, err
			}
			for _, want := range byNS[ns] {
				found := false
				for _, w := range snap {
					if string(w.Kind) != want.Kind || w.Name != want.Name {
						continue
					}
					found = true
					for _, pod := range w.Pods {
						n++
						switch {
						case pod.ProxyImage != image:
							bad = append(bad, fmt.Sprintf("pod %s/%s runs proxy %q, want %q", ns, pod.Name, pod.ProxyImage, image))
						case revision != "" && pod.Revision != revision:
							bad = append(bad, fmt.Sprintf("pod %s/%s has istio.io/rev=%q, want %q", ns, pod.Name, pod.Revision, revision))
						case !pod.Ready:
							bad = append(bad, fmt.Sprintf("pod %s/%s is not Ready", ns, pod.Name))
						}
					}
				}
				if !found {
					bad = append(bad, fmt.Sprintf("%s %s/%s has no running pods", want.Kind, ns, want.Name))
				}
			}
		}
		return bad, n, nil
	}
	if timeout == 0 {
		bad, _, err := check(ctx)
		if err != nil {
			return err
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	}
	ctx2, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var bad []string
	err := wait.PollUntilContextCancel(ctx2, time.Second, true, func(ctx context.Context) (bool, error) {
		b, n, err := check(ctx)
		if err != nil {
			return false, err
		}
		bad = b
		if progress != nil {
			progress(fmt.Sprintf("%d/%d pods run %s", n-len(b), n, shortImage(image)))
		}
		return len(b) == 0, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(bad) > 0 {
			return fmt.Errorf("verify: %s", strings.Join(bad, "; "))
		}
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// namespaceWorkloads reads one namespace's pods grouped by workload.
func (p *Provider) namespaceWorkloads(ctx context.Context, ns string) ([]plan.Workload, error) {
	pods, err := p.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	rss, err := p.cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list replicasets in %s: %w", ns, err)
	}
	live := pods.Items[:0]
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp == nil {
			live = append(live, pod)
		}
	}
	return workloadsOf(live, rss.Items, nil, nil, nil), nil
}

// uninstall re-checks on the live cluster that nothing but the old istiod
// uses the old revision (the plan's MW015 rule), deletes the control plane's
// installing object and the objects the plan listed, and waits for its
// istiod to go.
func (p *Provider) uninstall(ctx context.Context, step plan.Step, progress func(string)) error {
	obj, rev := step.Object, step.FromRevision
	users, err := p.revisionUsers(ctx, rev)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("refusing to uninstall %s: still used by %s", rev, strings.Join(users, ", "))
	}
	// An empty name means the object is gone already and only its istiod
	// is left to wait for.
	if obj.Name != "" && !slices.Contains(step.Objects, *obj) {
		if err := p.deleteObject(ctx, *obj); err != nil {
			return err
		}
	}
	for _, o := range step.Objects {
		if progress != nil {
			progress(fmt.Sprintf("delete %s %s", o.Kind, strings.TrimPrefix(o.Namespace+"/"+o.Name, "/")))
		}
		if err := p.deleteObject(ctx, o); err != nil {
			return err
		}
	}
	ctx2, cancel := context.WithTimeout(ctx, stepTimeout(step))
	defer cancel()
	err = wait.PollUntilContextCancel(ctx2, time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := p.cs.CoreV1().Pods(obj.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labelApp + "=istiod," + plan.LabelRevision + "=" + rev})
		if err != nil {
			return false, nil
		}
		if progress != nil {
			progress(fmt.Sprintf("%d istiod pod(s) of %s left", len(pods.Items), rev))
		}
		return len(pods.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("istiod of %s still running after deleting %s %s/%s", rev, obj.Kind, obj.Namespace, obj.Name)
	}
	return nil
}

// deleteObject deletes one object of a control plane, in the foreground so
// its dependents go first; one that is gone already is fine.
func (p *Provider) deleteObject(ctx context.Context, o plan.ObjectRef) error {
	gvr := gvrForKind(o.Kind)
	if gvr.Resource == "" {
		return fmt.Errorf("delete %s %s/%s: meshwave does not know that kind", o.Kind, o.Namespace, o.Name)
	}
	fg := metav1.DeletePropagationForeground
	var ri dynamic.ResourceInterface = p.dyn.Resource(gvr)
	if o.Namespace != "" {
		ri = p.dyn.Resource(gvr).Namespace(o.Namespace)
	}
	err := ri.Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &fg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s/%s: %w", o.Kind, o.Namespace, o.Name, err)
	}
	return nil
}

// revisionUsers re-reads the cluster and lists what still uses revision rev,
// by the same rule the plan's MW015 check applies (plan.RevisionUsers).
func (p *Provider) revisionUsers(ctx context.Context, rev string) ([]string, error) {
	objs, err := p.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("re-check the users of %s: %w", rev, err)
	}
	return usersOf(p.flavor, objs, rev), nil
}

// usersOf applies the plan's rule to freshly read objects: nothing is left
// to move by then, so the cluster itself must show no user.
func usersOf(flavor plan.Flavor, objs *clusterObjects, rev string) []string {
	snap := snapshotOf(flavor, &plan.Config{}, objs)
	cp := plan.ControlPlane{Revision: rev}
	for _, c := range snap.ControlPlanes {
		if c.Revision == rev {
			cp = c
		}
	}
	return plan.RevisionUsers(snap, cp, plan.Move{})
}

// shortImage returns the tag of an image for progress lines.
func shortImage(image string) string {
	if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") {
		return image[i+1:]
	}
	return image
}
