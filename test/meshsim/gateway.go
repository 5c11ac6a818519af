package meshsim

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

// reconcileMeshGateway plays the Banzai operator's gateway controller: the
// gateway Deployment runs the proxy image of the control plane named in
// spec.istioControlPlane and carries its revision, so patching that field
// rolls the gateway over to the other control plane.
func (s *Sim) reconcileMeshGateway(ctx context.Context, key objectKey) error {
	owner := kindMeshGateway + "." + key.Namespace + "." + key.Name
	u := s.get(GVRMeshGateway, key.Namespace, key.Name)
	if u == nil || u.GetDeletionTimestamp() != nil {
		return s.uninstall(ctx, owner)
	}
	cpName, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "name")
	cpNS, _, _ := unstructured.NestedString(u.Object, "spec", "istioControlPlane", "namespace")
	cr := s.get(GVRIstio, cpNS, cpName)
	if cr == nil {
		return s.setStatus(ctx, GVRMeshGateway, u, map[string]any{"Status": "ReconcileFailed",
			"ErrorMessage": fmt.Sprintf("Istio control plane %s/%s not found", cpNS, cpName)})
	}
	cp := controlPlaneOfIstio(cr)
	if err := s.ensureDeployment(ctx, gatewayDeployment(u, cp, owner)); err != nil {
		return err
	}
	return s.setStatus(ctx, GVRMeshGateway, u, map[string]any{"Status": "Available", "ErrorMessage": ""})
}

func gatewayDeployment(mgw *unstructured.Unstructured, cp controlPlane, owner string) *appsv1.Deployment {
	name := mgw.GetName()
	typ, _, _ := unstructured.NestedString(mgw.Object, "spec", "type")
	if typ == "" {
		typ = "ingress"
	}
	replicas := int32(1)
	if r, found, _ := unstructured.NestedInt64(mgw.Object, "spec", "replicaCount"); found && r > 0 {
		replicas = int32(r)
	}
	runAsRoot, _, _ := unstructured.NestedBool(mgw.Object, "spec", "runAsRoot")
	sel := map[string]string{"app": name, "gateway-name": name, "gateway-type": typ}
	podLabels := map[string]string{LabelRevision: cp.Revision, LabelInjectPod: "false", labelGatewayPod: name}
	extra, _, _ := unstructured.NestedStringMap(mgw.Object, "spec", "labels")
	for k, v := range extra {
		podLabels[k] = v
	}
	for k, v := range sel {
		podLabels[k] = v
	}
	var ports []corev1.ContainerPort
	for _, p := range gatewayPorts(mgw) {
		ports = append(ports, corev1.ContainerPort{Name: p.name, ContainerPort: int32(p.target), Protocol: corev1.ProtocolTCP})
	}
	ports = append(ports, corev1.ContainerPort{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP})
	sc := &corev1.SecurityContext{RunAsUser: ptr.To[int64](1337), RunAsGroup: ptr.To[int64](1337), RunAsNonRoot: ptr.To(true)}
	if runAsRoot {
		sc = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0), RunAsGroup: ptr.To[int64](0), RunAsNonRoot: ptr.To(false)}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: mgw.GetNamespace(),
			Labels: ownedLabels(owner, map[string]string{"app": name, "gateway-name": name, "gateway-type": typ, LabelRevision: cp.Revision})},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  proxyContainer,
					Image: cp.ProxyImage,
					Args: []string{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
						"--serviceCluster", name, "--proxyLogLevel=warning"},
					Env: []corev1.EnvVar{
						{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
						{Name: "ISTIO_META_ROUTER_MODE", Value: "sni-dnat"},
					},
					Ports:           ports,
					SecurityContext: sc,
				}}},
			},
		},
	}
}
