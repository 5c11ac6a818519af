package meshsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// reconcileIstio plays the Banzai istio-operator: an istiod Deployment, an
// istio-operator StatefulSet and the revision's injection webhook; removed
// again when the Istio CR is deleted.
func (s *Sim) reconcileIstio(ctx context.Context, key objectKey) error {
	u := s.get(GVRIstio, key.Namespace, key.Name)
	if u == nil || u.GetDeletionTimestamp() != nil {
		return s.uninstall(ctx, kindIstio+"."+key.Namespace+"."+key.Name)
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

func ownedLabels(owner string, extra map[string]string) map[string]string {
	l := map[string]string{labelManagedBy: managedBy, labelOwner: owner}
	for k, v := range extra {
		l[k] = v
	}
	return l
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

func (s *Sim) injectURL(path string) *string { return ptr.To(s.baseURL + "/inject/" + path) }

// webhookBase is one injection webhook, with the fields every flavor shares.
func (s *Sim) webhookBase(name, urlPath string) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		Name:                    name,
		ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: s.injectURL(urlPath), CABundle: s.caPEM},
		Rules:                   []admissionregistrationv1.RuleWithOperations{podCreateRule},
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1"},
		TimeoutSeconds:          ptr.To[int32](10),
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
	}
}

var podCreateRule = admissionregistrationv1.RuleWithOperations{
	Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
	Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
		Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
}

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

// notOptedOut is the object selector that honours sidecar.istio.io/inject=false.
var notOptedOut = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr(LabelInjectPod, metav1.LabelSelectorOpNotIn, "false")}}

// banzaiWebhook is the 1.6/1.7-era injector of a Banzai control plane: the
// default one selects istio-injection=enabled namespaces, a revisioned one
// namespaces labeled istio.io/rev=<revision> without istio-injection.
func (s *Sim) banzaiWebhook(cp controlPlane) *admissionregistrationv1.MutatingWebhookConfiguration {
	w := s.webhookBase("sidecar-injector.istio.io", cp.Revision)
	if cp.Default {
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelInjection: "enabled"}}
	} else {
		w.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
			expr(LabelRevision, metav1.LabelSelectorOpIn, cp.Revision),
		}}
	}
	w.ObjectSelector = notOptedOut
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-" + cp.Name + "-" + cp.Namespace,
			Labels: ownedLabels(cp.owner(), map[string]string{LabelRevision: cp.Revision, "app": "istio-sidecar-injector"})},
		Webhooks: []admissionregistrationv1.MutatingWebhook{w},
	}
}

// istioWebhooks are upstream Istio's injection webhooks for a revision (or
// a tag, which selects on its own name and injects its revision).
func (s *Sim) istioWebhooks(selectValue, urlPath string, isDefault bool) []admissionregistrationv1.MutatingWebhook {
	revNS := s.webhookBase("rev.namespace.sidecar-injector.istio.io", urlPath)
	revNS.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		expr(LabelRevision, metav1.LabelSelectorOpIn, selectValue),
		expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
	}}
	revNS.ObjectSelector = notOptedOut
	revObj := s.webhookBase("rev.object.sidecar-injector.istio.io", urlPath)
	revObj.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		expr(LabelRevision, metav1.LabelSelectorOpDoesNotExist),
		expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
	}}
	revObj.ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		expr(LabelInjectPod, metav1.LabelSelectorOpNotIn, "false"),
		expr(LabelRevision, metav1.LabelSelectorOpIn, selectValue),
	}}
	out := []admissionregistrationv1.MutatingWebhook{revNS, revObj}
	if isDefault {
		ns := s.webhookBase("namespace.sidecar-injector.istio.io", urlPath)
		ns.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjection, metav1.LabelSelectorOpIn, "enabled"),
		}}
		ns.ObjectSelector = notOptedOut
		obj := s.webhookBase("object.sidecar-injector.istio.io", urlPath)
		obj.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjection, metav1.LabelSelectorOpDoesNotExist),
			expr(LabelRevision, metav1.LabelSelectorOpDoesNotExist),
		}}
		obj.ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			expr(LabelInjectPod, metav1.LabelSelectorOpIn, "true"),
			expr(LabelRevision, metav1.LabelSelectorOpDoesNotExist),
		}}
		out = append(out, ns, obj)
	}
	return out
}

func (s *Sim) istioWebhook(cp controlPlane) *admissionregistrationv1.MutatingWebhookConfiguration {
	name := "istio-sidecar-injector-" + cp.Revision
	if cp.Default {
		name = "istio-sidecar-injector"
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: ownedLabels(cp.owner(), map[string]string{LabelRevision: cp.Revision, "app": "sidecar-injector"})},
		Webhooks: s.istioWebhooks(cp.Revision, cp.Revision, cp.Default),
	}
}

// TagWebhookName is the webhook configuration of an Istio revision tag.
func TagWebhookName(tag string) string { return "istio-revision-tag-" + tag }

// SetTag points an upstream Istio revision tag at a revision, as
// `istioctl tag set <tag> --revision <revision> --overwrite` does: a webhook
// configuration istio-revision-tag-<tag>, labeled istio.io/tag=<tag> and
// istio.io/rev=<revision>, that injects namespaces labeled
// istio.io/rev=<tag>. meshsim injects the revision that label names at
// admission time, so relabeling the configuration also re-points the tag.
func (s *Sim) SetTag(ctx context.Context, tag, revision string) error {
	wh := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: TagWebhookName(tag),
			Labels: map[string]string{labelManagedBy: managedBy, LabelTag: tag, LabelRevision: revision, "app": "sidecar-injector"}},
		Webhooks: s.istioWebhooks(tag, "tag/"+tag, tag == "default"),
	}
	return s.ensureWebhook(ctx, wh)
}

// RemoveTag deletes a revision tag.
func (s *Sim) RemoveTag(ctx context.Context, tag string) error {
	err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, TagWebhookName(tag), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// refreshWebhooks points every webhook meshsim made (also by an earlier
// meshsim process) at this server and its CA.
func (s *Sim) refreshWebhooks(ctx context.Context) error {
	if err := s.ensureWebhook(ctx, s.gatewayFaultWebhook()); err != nil {
		return err
	}
	whs, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx,
		metav1.ListOptions{LabelSelector: labelManagedBy + "=" + managedBy})
	if err != nil {
		return fmt.Errorf("meshsim: list webhooks: %w", err)
	}
	for i := range whs.Items {
		wh := whs.Items[i].DeepCopy()
		for j := range wh.Webhooks {
			cc := &wh.Webhooks[j].ClientConfig
			if cc.URL == nil {
				continue
			}
			_, path, _ := strings.Cut(strings.TrimPrefix(*cc.URL, "https://"), "/")
			cc.URL = ptr.To(s.baseURL + "/" + path)
			cc.CABundle = s.caPEM
		}
		if err := s.ensureWebhook(ctx, wh); err != nil {
			return err
		}
	}
	return nil
}

// gatewayFaultWebhook sends MeshGateway pods through meshsim's fault checks;
// they are not injected (the operator renders their proxy container).
func (s *Sim) gatewayFaultWebhook() *admissionregistrationv1.MutatingWebhookConfiguration {
	w := s.webhookBase("gateway-faults.meshsim.meshwave.dev", "")
	w.ClientConfig.URL = ptr.To(s.baseURL + "/gateway-pod")
	w.ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{expr(labelGatewayPod, metav1.LabelSelectorOpExists)}}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "meshsim-gateway-faults", Labels: map[string]string{labelManagedBy: managedBy}},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{w},
	}
}

func (s *Sim) ensureWebhook(ctx context.Context, want *admissionregistrationv1.MutatingWebhookConfiguration) error {
	api := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	return retryConflict(func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			if err == nil {
				s.log.Printf("created webhook %s", want.Name)
			}
			return err
		}
		if err != nil {
			return err
		}
		next := cur.DeepCopy()
		next.Labels = want.Labels
		next.Webhooks = want.Webhooks
		// Compare after the API server's defaulting by round-tripping once.
		if reflect.DeepEqual(cur.Labels, want.Labels) && webhooksEqual(cur.Webhooks, want.Webhooks) {
			return nil
		}
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
}

// webhooksEqual compares the fields meshsim sets.
func webhooksEqual(a, b []admissionregistrationv1.MutatingWebhook) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !reflect.DeepEqual(a[i].ClientConfig, b[i].ClientConfig) ||
			!reflect.DeepEqual(a[i].NamespaceSelector, b[i].NamespaceSelector) ||
			!reflect.DeepEqual(a[i].ObjectSelector, b[i].ObjectSelector) {
			return false
		}
	}
	return true
}

// ensureDeployment creates the Deployment or updates it when meshsim's
// rendering of it changed (a changed pod template rolls it over).
func (s *Sim) ensureDeployment(ctx context.Context, want *appsv1.Deployment) error {
	setSpecHash(&want.ObjectMeta, want.Spec)
	api := s.kube.AppsV1().Deployments(want.Namespace)
	return retryConflict(func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if cur.Annotations[annotationSpecHash] == want.Annotations[annotationSpecHash] {
			return nil
		}
		next := cur.DeepCopy()
		next.Labels, next.Annotations = want.Labels, want.Annotations
		next.Spec.Replicas, next.Spec.Template = want.Spec.Replicas, want.Spec.Template
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
}

func (s *Sim) ensureStatefulSet(ctx context.Context, want *appsv1.StatefulSet) error {
	setSpecHash(&want.ObjectMeta, want.Spec)
	api := s.kube.AppsV1().StatefulSets(want.Namespace)
	return retryConflict(func() error {
		cur, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if cur.Annotations[annotationSpecHash] == want.Annotations[annotationSpecHash] {
			return nil
		}
		next := cur.DeepCopy()
		next.Labels, next.Annotations = want.Labels, want.Annotations
		next.Spec.Replicas, next.Spec.Template = want.Spec.Replicas, want.Spec.Template
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
}

// setStatus merges fields into a custom resource's status when they differ.
func (s *Sim) setStatus(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured, fields map[string]any) error {
	cur, _, _ := unstructured.NestedMap(u.Object, "status")
	changed := false
	for k, v := range fields {
		if cur[k] != v {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	next := u.DeepCopy()
	for k, v := range fields {
		if err := unstructured.SetNestedField(next.Object, v, "status", k); err != nil {
			return err
		}
	}
	_, err := s.dyn.Resource(gvr).Namespace(u.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// A newer version is on its way through the informer; it requeues.
		return nil
	}
	return err
}

// setSpecHash records a digest of the rendered spec, so an update happens
// only when meshsim's rendering changed, not on every reconcile.
func setSpecHash(m *metav1.ObjectMeta, spec any) {
	raw, _ := json.Marshal(spec)
	sum := sha256.Sum256(raw)
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[annotationSpecHash] = hex.EncodeToString(sum[:8])
}
