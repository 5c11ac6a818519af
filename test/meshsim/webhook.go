package meshsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshwave/meshwave/test/testenv"
)

const proxyContainer = "istio-proxy"

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /inject/{rev...}", func(w http.ResponseWriter, r *http.Request) {
		s.serveAdmission(w, r, func(ctx context.Context, req *admissionv1.AdmissionRequest, pod *corev1.Pod) (*corev1.Pod, error) {
			return s.inject(ctx, req, pod, r.PathValue("rev"))
		})
	})
	mux.HandleFunc("POST /gateway-pod", func(w http.ResponseWriter, r *http.Request) {
		s.serveAdmission(w, r, s.gatewayPod)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	return mux
}

type mutateFunc func(ctx context.Context, req *admissionv1.AdmissionRequest, pod *corev1.Pod) (*corev1.Pod, error)

// serveAdmission decodes an AdmissionReview of a pod, lets mutate change a
// copy and answers with a JSON patch of the sections that changed. A mutate
// error denies the pod, as a failing injector does.
func (s *Sim) serveAdmission(w http.ResponseWriter, r *http.Request, mutate mutateFunc) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad admission review", http.StatusBadRequest)
		return
	}
	req := review.Request
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Message: "meshsim: decode pod: " + err.Error()}
	} else if out, err := mutate(r.Context(), req, pod.DeepCopy()); err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Message: err.Error()}
	} else if patch := podPatch(&pod, out); len(patch) > 0 {
		raw, _ := json.Marshal(patch)
		resp.Patch = raw
		resp.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
	}
	review.Response = resp
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// podPatch replaces each changed section whole ("add" replaces an existing
// member), which keeps the patch correct whatever the pod had.
func podPatch(before, after *corev1.Pod) []patchOp {
	var ops []patchOp
	if !equalJSON(before.Labels, after.Labels) {
		ops = append(ops, patchOp{"add", "/metadata/labels", after.Labels})
	}
	if !equalJSON(before.Annotations, after.Annotations) {
		ops = append(ops, patchOp{"add", "/metadata/annotations", after.Annotations})
	}
	if !equalJSON(before.Spec.InitContainers, after.Spec.InitContainers) {
		ops = append(ops, patchOp{"add", "/spec/initContainers", after.Spec.InitContainers})
	}
	if !equalJSON(before.Spec.Containers, after.Spec.Containers) {
		ops = append(ops, patchOp{"add", "/spec/containers", after.Spec.Containers})
	}
	return ops
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// inject adds the revision's sidecar, as istiod's injector does: the
// istio-init and istio-proxy containers, the revision (a label for
// Backyards, an annotation for upstream Istio) and the
// sidecar.istio.io/status annotation. A gateway pod that brings its own
// istio-proxy container with image "auto" only gets the image. path is the
// revision, or tag/<tag> for a revision tag's webhook.
func (s *Sim) inject(ctx context.Context, req *admissionv1.AdmissionRequest, pod *corev1.Pod, path string) (*corev1.Pod, error) {
	rev := path
	if tag, ok := strings.CutPrefix(path, "tag/"); ok {
		wh, err := s.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, TagWebhookName(tag), metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("meshsim: revision tag %s: %w", tag, err)
		}
		rev = wh.Labels[LabelRevision]
	}
	cp, ok := s.controlPlaneByRevision(rev)
	if !ok {
		return nil, fmt.Errorf("meshsim: no control plane serves revision %q", rev)
	}
	if _, done := pod.Annotations[AnnotationProxy]; done {
		return pod, nil
	}
	ns := req.Namespace
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	gateway := false
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Name == proxyContainer && c.Image == "auto" {
			c.Image = cp.ProxyImage
			gateway = true
		}
	}
	var inits, containers []string
	if !gateway {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: "istio-init", Image: cp.ProxyImage,
			Args: []string{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-b", "*", "-d", "15090,15021,15020"},
		})
		pod.Spec.Containers = append(pod.Spec.Containers, sidecar(cp))
		inits, containers = []string{"istio-init"}, []string{proxyContainer}
	} else {
		containers = []string{proxyContainer}
	}
	status, _ := json.Marshal(map[string]any{
		"initContainers": inits, "containers": containers, "volumes": []string{"istio-envoy", "istio-data", "istio-podinfo", "istiod-ca-cert"},
		"imagePullSecrets": nil, "revision": cp.Revision,
	})
	pod.Annotations[AnnotationProxy] = string(status)
	// Backyards' injector labeled the pod with its revision; upstream
	// istiod records it in annotations only (istio/istio#42290).
	if cp.Kind == kindIstioOperator {
		pod.Annotations[LabelRevision] = cp.Revision
	} else {
		pod.Labels[LabelRevision] = cp.Revision
	}
	pod.Labels["security.istio.io/tlsMode"] = "istio"
	if _, ok := pod.Labels["service.istio.io/canonical-name"]; !ok {
		name := pod.Labels["app"]
		if name == "" {
			name = pod.GenerateName
		}
		pod.Labels["service.istio.io/canonical-name"] = strings.TrimSuffix(name, "-")
	}
	if _, ok := pod.Labels["service.istio.io/canonical-revision"]; !ok {
		pod.Labels["service.istio.io/canonical-revision"] = "latest"
	}
	s.applyFaults(pod, ns, cp)
	s.log.Printf("injected %s/%s%s with %s (%s)", ns, pod.Name, pod.GenerateName, cp.ProxyImage, cp.Revision)
	return pod, nil
}

func sidecar(cp controlPlane) corev1.Container {
	readyPort := int32(15021)
	if cp.minor() > 0 && cp.minor() < 7 {
		readyPort = 15020
	}
	return corev1.Container{
		Name:  proxyContainer,
		Image: cp.ProxyImage,
		Args: []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
			"--serviceCluster", "$(ISTIO_META_WORKLOAD_NAME).$(POD_NAMESPACE)", "--proxyLogLevel=warning"},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "ISTIO_META_WORKLOAD_NAME", Value: "workload"},
			{Name: "CA_ADDR", Value: "istiod-" + cp.Revision + "." + cp.Namespace + ".svc:15012"},
		},
		Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intOrString(readyPort)}},
			PeriodSeconds:    2,
			FailureThreshold: 30,
		},
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1337), RunAsGroup: ptr.To[int64](1337), RunAsNonRoot: ptr.To(true)},
	}
}

// gatewayPod applies the faults to a MeshGateway pod, which the operator
// rendered with its proxy already.
func (s *Sim) gatewayPod(_ context.Context, req *admissionv1.AdmissionRequest, pod *corev1.Pod) (*corev1.Pod, error) {
	cp, ok := s.controlPlaneByRevision(pod.Labels[LabelRevision])
	if !ok {
		return pod, nil
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	s.applyFaults(pod, req.Namespace, cp)
	return pod, nil
}

// applyFaults marks a pod that the simulated mesh would keep from becoming
// Ready; testenv's kwok Stages then keep its istio-proxy in CrashLoopBackOff.
func (s *Sim) applyFaults(pod *corev1.Pod, ns string, cp controlPlane) {
	kind, why := s.faultOf(pod, ns, cp)
	if kind == "" {
		return
	}
	pod.Annotations[AnnotationFault] = kind
	pod.Annotations[testenv.AnnotationNotReady] = why
	pod.Annotations[testenv.AnnotationNotReadyContainer] = proxyContainer
	s.log.Printf("fault %s on %s/%s%s: %s", kind, ns, pod.Name, pod.GenerateName, why)
}
