package meshsim

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
)

// LoadScenario installs a built-in scenario (see ScenarioNames) and waits
// until it runs.
func (s *Sim) LoadScenario(ctx context.Context, name string) error {
	sc, ok := Scenarios()[name]
	if !ok {
		return fmt.Errorf("meshsim: unknown scenario %q (have %s)", name, strings.Join(ScenarioNames(), ", "))
	}
	return s.Install(ctx, sc)
}

// Install creates a scenario's objects and waits until every workload of it
// is rolled out and Ready: control planes first and their injection proven
// to work, then namespaces, workloads and gateways.
func (s *Sim) Install(ctx context.Context, sc Scenario) error {
	start := time.Now()
	nsSeen := map[string]bool{}
	for _, cp := range sc.ControlPlanes {
		if err := s.ensureNamespace(ctx, cp.Namespace, nil); err != nil {
			return err
		}
		nsSeen[cp.Namespace] = true
		if err := s.AddControlPlane(ctx, cp); err != nil {
			return err
		}
	}
	for _, t := range sc.Tags {
		if err := s.SetTag(ctx, t.Name, t.Revision); err != nil {
			return fmt.Errorf("meshsim: tag %s: %w", t.Name, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, ns := range sc.Namespaces {
		nsSeen[ns.Name] = true
		g.Go(func() error { return s.addNamespace(gctx, ns) })
	}
	for _, gw := range sc.Gateways {
		nsSeen[gw.Namespace] = true
		g.Go(func() error {
			if err := s.ensureNamespace(gctx, gw.Namespace, nil); err != nil {
				return err
			}
			return s.AddGateway(gctx, gw)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	namespaces := slices.Sorted(maps.Keys(nsSeen))
	if err := s.WaitReady(ctx, namespaces...); err != nil {
		return err
	}
	s.log.Printf("scenario %s loaded in %s", sc.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// AddControlPlane installs a control plane (an Istio CR or IstioOperator)
// and waits until its webhook injects.
func (s *Sim) AddControlPlane(ctx context.Context, cp ControlPlane) error {
	var u *unstructured.Unstructured
	var gvr = GVRIstio
	annotations := map[string]any{}
	if cp.Unhealthy {
		annotations[AnnotationUnhealthy] = "true"
	}
	switch cp.Flavor {
	case FlavorBackyards:
		if cp.Default {
			annotations[AnnotationDefaultInjector] = "true"
		}
		spec := map[string]any{
			"version": cp.Version, "mtls": false, "autoMtls": true, "controlPlaneSecurityEnabled": true,
			"meshExpansion": false, "imagePullPolicy": "IfNotPresent",
			"istiod": map[string]any{"enabled": true}, "sidecarInjector": map[string]any{"enabled": true},
		}
		if cp.ProxyImage != "" {
			spec["proxy"] = map[string]any{"image": cp.ProxyImage}
		}
		u = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "istio.banzaicloud.io/v1beta1", "kind": "Istio",
			"metadata": map[string]any{"name": cp.Name, "namespace": cp.Namespace, "annotations": annotations,
				"labels": map[string]any{"controller-tools.k8s.io": "1.0"}},
			"spec": spec,
		}}
	case FlavorIstio:
		gvr = GVRIstioOperator
		spec := map[string]any{"profile": "minimal", "hub": "docker.io/istio", "tag": cp.Version}
		if cp.Revision != "" {
			spec["revision"] = cp.Revision
		}
		if cp.ProxyImage != "" {
			spec["values"] = map[string]any{"global": map[string]any{"proxy": map[string]any{"image": cp.ProxyImage}}}
		}
		u = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
			"metadata": map[string]any{"name": cp.Name, "namespace": cp.Namespace, "annotations": annotations},
			"spec":     spec,
		}}
	default:
		return fmt.Errorf("meshsim: control plane %s: unknown flavor %q", cp.Name, cp.Flavor)
	}
	if err := s.apply(ctx, gvr, u); err != nil {
		return fmt.Errorf("meshsim: control plane %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	// The webhook exists once the controller reconciled it.
	rev := cp.Rev()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		whs, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx,
			metav1.ListOptions{LabelSelector: labelOwner + "=" + s.ownerOf(cp)})
		if err != nil {
			return false, nil
		}
		_, cached := s.controlPlaneByRevision(rev)
		return len(whs.Items) > 0 && cached, nil
	})
	if err != nil {
		return fmt.Errorf("meshsim: control plane %s: webhook not installed: %w (last reconcile error: %v)", rev, err, s.Err())
	}
	return nil
}

// RemoveControlPlane deletes a control plane's custom resource, as
// `kubectl delete istio` would, and waits until its operator removed what it
// had installed.
func (s *Sim) RemoveControlPlane(ctx context.Context, cp ControlPlane) error {
	gvr := GVRIstio
	if cp.Flavor == FlavorIstio {
		gvr = GVRIstioOperator
	}
	if err := s.dyn.Resource(gvr).Namespace(cp.Namespace).Delete(ctx, cp.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("meshsim: remove control plane %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	sel := metav1.ListOptions{LabelSelector: labelOwner + "=" + s.ownerOf(cp)}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		whs, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, sel)
		if err != nil {
			return false, nil
		}
		deps, err := s.kube.AppsV1().Deployments("").List(ctx, sel)
		return err == nil && len(whs.Items) == 0 && len(deps.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("meshsim: control plane %s/%s: not uninstalled: %w (last reconcile error: %v)", cp.Namespace, cp.Name, err, s.Err())
	}
	return nil
}

func (s *Sim) ownerOf(cp ControlPlane) string {
	if cp.Flavor == FlavorIstio {
		return kindIstioOperator + "." + cp.Namespace + "." + cp.Name
	}
	return kindIstio + "." + cp.Namespace + "." + cp.Name
}

// AddGateway creates (or updates) a MeshGateway.
func (s *Sim) AddGateway(ctx context.Context, gw Gateway) error {
	typ := gw.Type
	if typ == "" {
		typ = "ingress"
	}
	var ports []any
	for _, p := range gw.Ports {
		ports = append(ports, map[string]any{"name": p.Name, "port": int64(p.Port), "targetPort": int64(p.TargetPort), "protocol": "TCP"})
	}
	spec := map[string]any{
		"type": typ, "serviceType": "LoadBalancer", "ports": ports,
		"istioControlPlane": map[string]any{"name": gw.ControlPlaneName, "namespace": gw.ControlPlaneNamespace},
	}
	if gw.RunAsRoot != nil {
		spec["runAsRoot"] = *gw.RunAsRoot
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "istio.banzaicloud.io/v1beta1", "kind": "MeshGateway",
		"metadata": map[string]any{"name": gw.Name, "namespace": gw.Namespace},
		"spec":     spec,
	}}
	if err := s.apply(ctx, GVRMeshGateway, u); err != nil {
		return fmt.Errorf("meshsim: MeshGateway %s/%s: %w", gw.Namespace, gw.Name, err)
	}
	return nil
}

// AddNamespace creates a namespace with its labels and workloads (after
// checking that injection works there when the labels ask for it). It does
// not wait for the workloads; WaitReady does.
func (s *Sim) AddNamespace(ctx context.Context, ns Namespace) error { return s.addNamespace(ctx, ns) }

func (s *Sim) addNamespace(ctx context.Context, ns Namespace) error {
	if err := s.ensureNamespace(ctx, ns.Name, ns.Labels); err != nil {
		return err
	}
	if ns.Labels[LabelInjection] == "enabled" || ns.Labels[LabelRevision] != "" {
		if err := s.waitInjection(ctx, ns.Name); err != nil {
			return err
		}
	}
	for _, w := range ns.Workloads {
		if err := s.createWorkload(ctx, ns.Name, w); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sim) ensureNamespace(ctx context.Context, name string, labels map[string]string) error {
	api := s.kube.CoreV1().Namespaces()
	_, err := api.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("meshsim: namespace %s: %w", name, err)
		}
		return s.waitServiceAccount(ctx, name)
	}
	if len(labels) == 0 {
		return nil
	}
	return retryConflict(func() error {
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		maps.Copy(cur.Labels, labels)
		_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// waitServiceAccount waits for the namespace's default service account, so
// the first pods are not refused and retried with back-off.
func (s *Sim) waitServiceAccount(ctx context.Context, ns string) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := s.kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// waitInjection waits until the API server calls the injection webhook for
// pods of the namespace: a dry-run pod comes back with a sidecar. (The API
// server picks up new webhook configurations asynchronously.)
func (s *Sim) waitInjection(ctx context.Context, ns string) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "meshsim-probe-", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}}},
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		out, err := s.kube.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err
			return false, nil
		}
		_, injected := out.Annotations[AnnotationProxy]
		return injected, nil
	})
	if err != nil {
		return fmt.Errorf("meshsim: injection in namespace %s does not work: %w (last error: %v)", ns, err, last)
	}
	return nil
}

func (s *Sim) createWorkload(ctx context.Context, ns string, w Workload) error {
	sel := map[string]string{"app": w.Name}
	if v := w.Labels["app"]; v != "" {
		sel["app"] = v
	}
	podLabels := map[string]string{}
	maps.Copy(podLabels, w.Labels)
	maps.Copy(podLabels, sel)
	n := max(w.Containers, 1)
	var containers []corev1.Container
	for i := range n {
		name := w.Name
		if i > 0 {
			name = fmt.Sprintf("%s-%d", w.Name, i)
		}
		containers = append(containers, corev1.Container{
			Name: name, Image: "registry.meshwave.test/" + ns + "/" + name + ":1.0",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(8080 + i)}},
		})
	}
	var annotations map[string]string
	if len(w.PodAnnotations) > 0 {
		annotations = maps.Clone(w.PodAnnotations)
	}
	if w.IstioGateway {
		containers = []corev1.Container{{Name: proxyContainer, Image: "auto",
			Ports: []corev1.ContainerPort{{Name: "http2", ContainerPort: 8080}, {Name: "https", ContainerPort: 8443}}}}
		podLabels[LabelInjectPod] = "true"
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["inject.istio.io/templates"] = "gateway"
	}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: containers},
	}
	replicas := w.Replicas
	if replicas == 0 {
		replicas = 1
	}
	meta := metav1.ObjectMeta{Name: w.Name, Namespace: ns, Labels: w.Labels}
	var err error
	switch w.Kind {
	case "", Deployment:
		_, err = s.kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}, metav1.CreateOptions{})
	case StatefulSet:
		_, err = s.kube.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: w.Name, Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl,
			PodManagementPolicy: appsv1.ParallelPodManagement}}, metav1.CreateOptions{})
	case DaemonSet:
		_, err = s.kube.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}, metav1.CreateOptions{})
	default:
		return fmt.Errorf("meshsim: workload %s/%s: unknown kind %q", ns, w.Name, w.Kind)
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("meshsim: %s %s/%s: %w", w.Kind, ns, w.Name, err)
	}
	return nil
}
