package meshsim

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/test/testenv"
)

const (
	kindIstio         = "Istio"
	kindIstioOperator = "IstioOperator"
	kindMeshGateway   = "MeshGateway"
)

// Labels and annotations meshsim reads and writes.
const (
	LabelRevision   = "istio.io/rev"
	LabelTag        = "istio.io/tag"
	LabelInjection  = "istio-injection"
	LabelInjectPod  = "sidecar.istio.io/inject"
	AnnotationProxy = "sidecar.istio.io/status"

	// AnnotationUnhealthy on an Istio CR or IstioOperator makes the pods its
	// control plane injects (and its gateways' pods) never become Ready.
	AnnotationUnhealthy = "meshsim.meshwave.dev/unhealthy"
	// AnnotationDefaultInjector on an Istio CR makes its control plane the
	// one that injects namespaces labeled istio-injection=enabled.
	AnnotationDefaultInjector = "meshsim.meshwave.dev/default-injector"
	// AnnotationFault on a pod says which simulated fault keeps it NotReady.
	AnnotationFault = "meshsim.meshwave.dev/fault"

	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "meshsim"
	// labelOwner ties an object to the custom resource it was made for:
	// "<Kind>.<namespace>.<name>".
	labelOwner = "meshsim.meshwave.dev/owner"
	// labelGatewayPod marks MeshGateway pods for the fault webhook.
	labelGatewayPod = "meshsim.meshwave.dev/gateway"
	// annotationSpecHash records the rendered spec of an owned workload.
	annotationSpecHash = "meshsim.meshwave.dev/spec"
)

// controlPlane is what meshsim knows of one installed control plane,
// whichever resource installed it.
type controlPlane struct {
	Kind       string // kindIstio or kindIstioOperator
	Name       string
	Namespace  string
	Revision   string
	Version    string
	ProxyImage string
	PilotImage string
	Default    bool
	Unhealthy  bool
}

func (cp controlPlane) owner() string { return cp.Kind + "." + cp.Namespace + "." + cp.Name }

// minor returns the Istio minor version (7 for "1.7.0"); 0 when unknown.
func (cp controlPlane) minor() int {
	parts := strings.Split(strings.TrimPrefix(cp.Version, "v"), ".")
	if len(parts) < 2 || parts[0] != "1" {
		return 0
	}
	m, _ := strconv.Atoi(parts[1])
	return m
}

// controlPlaneOfIstio reads a Banzai Istio CR.
func controlPlaneOfIstio(u *unstructured.Unstructured) controlPlane {
	version, _, _ := unstructured.NestedString(u.Object, "spec", "version")
	version = strings.TrimPrefix(version, "v")
	img, _, _ := unstructured.NestedString(u.Object, "spec", "proxy", "image")
	if img == "" {
		img = "docker.io/banzaicloud/istio-proxyv2:" + version + "-bzc"
	}
	pilot, _, _ := unstructured.NestedString(u.Object, "spec", "istiod", "image")
	if pilot == "" {
		pilot = "docker.io/banzaicloud/istio-pilot:" + version + "-bzc"
	}
	a := u.GetAnnotations()
	return controlPlane{Kind: kindIstio, Name: u.GetName(), Namespace: u.GetNamespace(),
		Revision: u.GetName() + "." + u.GetNamespace(), Version: version, ProxyImage: img, PilotImage: pilot,
		Default: a[AnnotationDefaultInjector] == "true", Unhealthy: a[AnnotationUnhealthy] == "true"}
}

// controlPlaneOfIstioOperator reads an upstream IstioOperator.
func controlPlaneOfIstioOperator(u *unstructured.Unstructured) controlPlane {
	rev, _, _ := unstructured.NestedString(u.Object, "spec", "revision")
	tag := fmt.Sprint(nestedValue(u.Object, "spec", "tag"))
	if tag == "<nil>" {
		tag = ""
	}
	hub, _, _ := unstructured.NestedString(u.Object, "spec", "hub")
	if hub == "" {
		hub = "docker.io/istio"
	}
	hub = strings.TrimSuffix(hub, "/")
	img, _, _ := unstructured.NestedString(u.Object, "spec", "values", "global", "proxy", "image")
	if img == "" {
		img = "proxyv2"
	}
	if !strings.Contains(img, "/") {
		img = hub + "/" + img + ":" + tag
	}
	cp := controlPlane{Kind: kindIstioOperator, Name: u.GetName(), Namespace: u.GetNamespace(),
		Revision: rev, Version: tag, ProxyImage: img, PilotImage: hub + "/pilot:" + tag,
		Unhealthy: u.GetAnnotations()[AnnotationUnhealthy] == "true"}
	if rev == "" || rev == "default" {
		cp.Revision, cp.Default = "default", true
	}
	return cp
}

func nestedValue(obj map[string]any, fields ...string) any {
	v, found, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if !found || err != nil {
		return nil
	}
	return v
}

// controlPlanes lists every installed control plane.
func (s *Sim) controlPlanes() []controlPlane {
	var out []controlPlane
	for _, u := range s.list(GVRIstio, "") {
		out = append(out, controlPlaneOfIstio(u))
	}
	for _, u := range s.list(GVRIstioOperator, "") {
		out = append(out, controlPlaneOfIstioOperator(u))
	}
	return out
}

// controlPlaneByRevision finds the control plane of a revision.
func (s *Sim) controlPlaneByRevision(rev string) (controlPlane, bool) {
	for _, cp := range s.controlPlanes() {
		if cp.Revision == rev {
			return cp, true
		}
	}
	return controlPlane{}, false
}

// reconcileIstio plays the Banzai istio-operator, for an Istio CR meshsim
// loaded or anyone applied: status Reconciling, then an istiod Deployment,
// an istio-operator StatefulSet and the revision's injection webhook, then
// status Available; removed again when the Istio CR is deleted.
func (s *Sim) reconcileIstio(ctx context.Context, key objectKey) error {
	u := s.get(GVRIstio, key.Namespace, key.Name)
	if u == nil || u.GetDeletionTimestamp() != nil {
		return s.uninstall(ctx, kindIstio+"."+key.Namespace+"."+key.Name)
	}
	// As the operator does, a resource it has not seen before is
	// Reconciling first; the status update brings it back here.
	if st, _, _ := unstructured.NestedString(u.Object, "status", "Status"); st == "" {
		return s.setStatus(ctx, GVRIstio, u, map[string]any{"Status": "Reconciling", "ErrorMessage": ""})
	}
	cp := controlPlaneOfIstio(u)
	istiod := "istiod-" + cp.Name
	if cp.Default {
		istiod = "istiod"
	}
	if err := s.ensureDeployment(ctx, s.istiodDeployment(cp, istiod)); err != nil {
		return err
	}
	if err := s.ensureStatefulSet(ctx, s.operatorStatefulSet(ctx, cp)); err != nil {
		return err
	}
	if err := s.ensureWebhook(ctx, s.banzaiWebhook(cp)); err != nil {
		return err
	}
	if err := s.setStatus(ctx, GVRIstio, u, map[string]any{"Status": "Available", "ErrorMessage": ""}); err != nil {
		return err
	}
	// Gateways follow their control plane's proxy image.
	for _, g := range s.list(GVRMeshGateway, "") {
		name, _, _ := unstructured.NestedString(g.Object, "spec", "istioControlPlane", "name")
		ns, _, _ := unstructured.NestedString(g.Object, "spec", "istioControlPlane", "namespace")
		if name == cp.Name && ns == cp.Namespace {
			s.queue.Add(objectKey{Kind: kindMeshGateway, Namespace: g.GetNamespace(), Name: g.GetName()})
		}
	}
	return nil
}

// reconcileIstioOperator plays `istioctl install` of an IstioOperator: an
// istiod-<revision> Deployment and the revision's injection webhook.
func (s *Sim) reconcileIstioOperator(ctx context.Context, key objectKey) error {
	u := s.get(GVRIstioOperator, key.Namespace, key.Name)
	if u == nil || u.GetDeletionTimestamp() != nil {
		return s.uninstall(ctx, kindIstioOperator+"."+key.Namespace+"."+key.Name)
	}
	cp := controlPlaneOfIstioOperator(u)
	istiod := "istiod-" + cp.Revision
	if cp.Default {
		istiod = "istiod"
	}
	if err := s.ensureDeployment(ctx, s.istiodDeployment(cp, istiod)); err != nil {
		return err
	}
	if err := s.ensureWebhook(ctx, s.istioWebhook(cp)); err != nil {
		return err
	}
	return s.setStatus(ctx, GVRIstioOperator, u, map[string]any{"status": "HEALTHY"})
}

// uninstall deletes everything made for the owner, as the operator's
// uninstall (or `istioctl uninstall --revision`) does.
func (s *Sim) uninstall(ctx context.Context, owner string) error {
	sel := metav1.ListOptions{LabelSelector: labels.Set{labelOwner: owner}.String()}
	del := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}
	deps, err := s.kube.AppsV1().Deployments("").List(ctx, sel)
	if err != nil {
		return err
	}
	for _, d := range deps.Items {
		if err := s.kube.AppsV1().Deployments(d.Namespace).Delete(ctx, d.Name, del); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	stss, err := s.kube.AppsV1().StatefulSets("").List(ctx, sel)
	if err != nil {
		return err
	}
	for _, d := range stss.Items {
		if err := s.kube.AppsV1().StatefulSets(d.Namespace).Delete(ctx, d.Name, del); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	whs, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, sel)
	if err != nil {
		return err
	}
	for _, w := range whs.Items {
		if err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, w.Name, del); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if len(deps.Items)+len(stss.Items)+len(whs.Items) > 0 {
		s.log.Printf("uninstalled %s", owner)
	}
	return nil
}

// enqueueOrphans queues the owners of objects meshsim made whose custom
// resource no longer exists, so their uninstall runs.
func (s *Sim) enqueueOrphans(ctx context.Context) {
	sel := metav1.ListOptions{LabelSelector: labelOwner}
	owners := map[string]bool{}
	if deps, err := s.kube.AppsV1().Deployments("").List(ctx, sel); err == nil {
		for _, d := range deps.Items {
			owners[d.Labels[labelOwner]] = true
		}
	}
	if whs, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, sel); err == nil {
		for _, w := range whs.Items {
			owners[w.Labels[labelOwner]] = true
		}
	}
	for o := range owners {
		kind, rest, ok := strings.Cut(o, ".")
		ns, name, ok2 := strings.Cut(rest, ".")
		if ok && ok2 {
			s.queue.Add(objectKey{Kind: kind, Namespace: ns, Name: name})
		}
	}
}

// fastStart makes control-plane pods start quickly, so scenarios load fast.
var fastStart = map[string]string{testenv.AnnotationStartDelay: "200ms", testenv.AnnotationStartDelayMax: "700ms"}

func (s *Sim) istiodDeployment(cp controlPlane, name string) *appsv1.Deployment {
	podLabels := map[string]string{"app": "istiod", "istio": "pilot", LabelRevision: cp.Revision, LabelInjectPod: "false"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cp.Namespace,
			Labels: ownedLabels(cp.owner(), map[string]string{"app": "istiod", "istio": "pilot", LabelRevision: cp.Revision,
				"operator.istio.io/version": cp.Version})},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "istiod", LabelRevision: cp.Revision}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: fastStart},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "discovery", Image: cp.PilotImage,
					Args:  []string{"discovery", "--monitoringAddr=:15014", "--domain", "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"},
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 15010}, {ContainerPort: 15017}},
				}}},
			},
		},
	}
}

// operatorStatefulSet is the Banzai istio-operator of the control plane's
// minor version (istio-operator-v17x), two containers as in the guide.
func (s *Sim) operatorStatefulSet(ctx context.Context, cp controlPlane) *appsv1.StatefulSet {
	name := fmt.Sprintf("istio-operator-v1%dx", cp.minor())
	if cur, err := s.kube.AppsV1().StatefulSets(cp.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil && cur.Labels[labelOwner] != cp.owner() {
		name += "-" + cp.Name
	}
	sel := map[string]string{"control-plane": "controller-manager", "controller-tools.k8s.io": "1.0", "app.kubernetes.io/instance": name}
	podLabels := map[string]string{LabelInjectPod: "false"}
	for k, v := range sel {
		podLabels[k] = v
	}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cp.Namespace,
			Labels: ownedLabels(cp.owner(), map[string]string{"app.kubernetes.io/name": "istio-operator", "app.kubernetes.io/version": cp.Version})},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: name + "-authproxy",
			Selector:    &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: fastStart},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "kube-rbac-proxy", Image: "gcr.io/kubebuilder/kube-rbac-proxy:v0.5.0", Args: []string{"--secure-listen-address=0.0.0.0:8443", "--upstream=http://127.0.0.1:8080/"}},
					{Name: "manager", Image: "docker.io/banzaicloud/istio-operator:" + cp.Version, Command: []string{"/manager"}, Args: []string{"--metrics-addr=127.0.0.1:8080"}},
				}},
			},
		},
	}
}
