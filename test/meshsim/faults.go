package meshsim

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Fault kinds, the value of AnnotationFault on a pod kept NotReady.
const (
	FaultUnhealthyControlPlane = "unhealthy-control-plane"
	FaultOldLuaEnvoyFilter     = "old-lua-envoyfilter"
	FaultPrivilegedGatewayPort = "gateway-privileged-port"
)

func intOrString(p int32) intstr.IntOrString { return intstr.FromInt32(p) }

// faultOf decides whether the simulated mesh keeps a pod of control plane cp
// in namespace ns from becoming Ready, and why:
//   - the control plane is marked unhealthy (SetUnhealthy);
//   - on Istio >= 1.7, an EnvoyFilter in the pod's namespace or the control
//     plane's root namespace that selects the pod configures Lua with the
//     pre-1.7 syntax and no proxyVersion match excludes this proxy (the
//     guide's CAUTION: "your istio proxy containers won't start");
//   - on a Banzai control plane >= 1.7, a MeshGateway that does not run as
//     root binds a port below 1024.
func (s *Sim) faultOf(pod *corev1.Pod, ns string, cp controlPlane) (kind, why string) {
	if cp.Unhealthy {
		return FaultUnhealthyControlPlane, fmt.Sprintf("istio-proxy: control plane %s is unhealthy: the proxy gets no configuration from istiod", cp.Revision)
	}
	if cp.minor() >= 7 {
		namespaces := []string{ns}
		if cp.Namespace != ns {
			namespaces = append(namespaces, cp.Namespace)
		}
		for _, n := range namespaces {
			for _, ef := range s.list(GVREnvoyFilter, n) {
				if oldLuaFilterApplies(ef, pod.Labels, cp.Version) {
					return FaultOldLuaEnvoyFilter, fmt.Sprintf("istio-proxy: envoy rejected EnvoyFilter %s/%s: the Lua filter uses the pre-1.7 config syntax (Istio %s)",
						ef.GetNamespace(), ef.GetName(), cp.Version)
				}
			}
		}
	}
	if gw := pod.Labels[labelGatewayPod]; gw != "" && cp.Kind == kindIstio && cp.minor() >= 7 {
		if mgw := s.get(GVRMeshGateway, ns, gw); mgw != nil {
			if port, bad := privilegedPortAsNonRoot(mgw); bad {
				return FaultPrivilegedGatewayPort, fmt.Sprintf("istio-proxy: listener 0.0.0.0_%d: cannot bind to port %d: permission denied (the gateway runs as non-root on Istio %s)",
					port, port, cp.Version)
			}
		}
	}
	return "", ""
}

// oldLuaFilterApplies reports whether an EnvoyFilter selects a pod with
// these labels and has a Lua patch in the pre-1.7 syntax (the filter config
// under "config" instead of "typed_config") that a proxy of proxyVersion
// would load.
func oldLuaFilterApplies(ef *unstructured.Unstructured, podLabels map[string]string, proxyVersion string) bool {
	sel, _, _ := unstructured.NestedStringMap(ef.Object, "spec", "workloadSelector", "labels")
	for k, v := range sel {
		if podLabels[k] != v {
			return false
		}
	}
	patches, _, _ := unstructured.NestedSlice(ef.Object, "spec", "configPatches")
	for _, raw := range patches {
		p, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		name, _, _ := unstructured.NestedString(p, "patch", "value", "name")
		if !strings.Contains(name, "lua") {
			continue
		}
		if _, old, _ := unstructured.NestedFieldNoCopy(p, "patch", "value", "config"); !old {
			continue
		}
		pv, _, _ := unstructured.NestedString(p, "match", "proxy", "proxyVersion")
		if pv == "" {
			return true
		}
		if re, err := regexp.Compile(pv); err == nil && re.MatchString(proxyVersion) {
			return true
		}
	}
	return false
}

// privilegedPortAsNonRoot reports the first port below 1024 the gateway's
// proxy binds (targetPort, else port) when spec.runAsRoot is not true.
func privilegedPortAsNonRoot(mgw *unstructured.Unstructured) (int64, bool) {
	if root, _, _ := unstructured.NestedBool(mgw.Object, "spec", "runAsRoot"); root {
		return 0, false
	}
	for _, p := range gatewayPorts(mgw) {
		if p.target < 1024 {
			return p.target, true
		}
	}
	return 0, false
}

type gatewayPort struct {
	name         string
	port, target int64
}

func gatewayPorts(mgw *unstructured.Unstructured) []gatewayPort {
	raw, _, _ := unstructured.NestedSlice(mgw.Object, "spec", "ports")
	var out []gatewayPort
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		p := gatewayPort{name: fmt.Sprint(m["name"]), port: toInt(m["port"])}
		p.target = toInt(m["targetPort"])
		if p.target == 0 {
			p.target = p.port
		}
		out = append(out, p)
	}
	return out
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case string:
		var i int64
		_, _ = fmt.Sscan(n, &i)
		return i
	}
	return 0
}

// SetUnhealthy marks (or clears) the control plane of a revision as
// unhealthy: the pods it injects from then on, and its gateways' new pods,
// never become Ready. Pods already running are not affected.
func (s *Sim) SetUnhealthy(ctx context.Context, revision string, unhealthy bool) error {
	cp, ok := s.controlPlaneByRevision(revision)
	if !ok {
		return fmt.Errorf("meshsim: no control plane serves revision %q", revision)
	}
	gvr := GVRIstio
	if cp.Kind == kindIstioOperator {
		gvr = GVRIstioOperator
	}
	var value any
	if unhealthy {
		value = "true"
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationUnhealthy: value}}})
	u, err := s.dyn.Resource(gvr).Namespace(cp.Namespace).Patch(ctx, cp.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("meshsim: mark %s unhealthy=%v: %w", revision, unhealthy, err)
	}
	return s.waitCached(ctx, gvr, cp.Namespace, cp.Name, u.GetResourceVersion())
}

// LuaFilter describes an EnvoyFilter with one Lua patch for AddLuaEnvoyFilter.
type LuaFilter struct {
	// OldSyntax writes the pre-1.7 form (config.inlineCode); otherwise the
	// typed_config form Istio 1.7 expects.
	OldSyntax bool
	// ProxyVersion, when set, is the patch's match.proxy.proxyVersion regex
	// (e.g. `^1\.6.*`), which keeps the patch away from other proxies.
	ProxyVersion string
	// WorkloadLabels, when set, is the filter's workloadSelector.
	WorkloadLabels map[string]string
}

// AddLuaEnvoyFilter creates an EnvoyFilter with a Lua HTTP filter patch and
// waits until the webhook sees it.
func (s *Sim) AddLuaEnvoyFilter(ctx context.Context, namespace, name string, f LuaFilter) error {
	value := map[string]any{"name": "envoy.lua"}
	code := "function envoy_on_request(handle)\n  handle:headers():add(\"x-meshsim\", \"1\")\nend\n"
	if f.OldSyntax {
		value["config"] = map[string]any{"inlineCode": code}
	} else {
		value["name"] = "envoy.filters.http.lua"
		value["typed_config"] = map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", "inlineCode": code}
	}
	match := map[string]any{
		"context": "SIDECAR_INBOUND",
		"listener": map[string]any{"filterChain": map[string]any{"filter": map[string]any{
			"name": "envoy.http_connection_manager", "subFilter": map[string]any{"name": "envoy.router"}}}},
	}
	if f.ProxyVersion != "" {
		match["proxy"] = map[string]any{"proxyVersion": f.ProxyVersion}
	}
	spec := map[string]any{"configPatches": []any{map[string]any{
		"applyTo": "HTTP_FILTER",
		"match":   match,
		"patch":   map[string]any{"operation": "INSERT_BEFORE", "value": value},
	}}}
	if len(f.WorkloadLabels) > 0 {
		l := map[string]any{}
		for k, v := range f.WorkloadLabels {
			l[k] = v
		}
		spec["workloadSelector"] = map[string]any{"labels": l}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     spec,
	}}
	if err := s.apply(ctx, GVREnvoyFilter, u); err != nil {
		return fmt.Errorf("meshsim: EnvoyFilter %s/%s: %w", namespace, name, err)
	}
	cur, err := s.dyn.Resource(GVREnvoyFilter).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return s.waitCached(ctx, GVREnvoyFilter, namespace, name, cur.GetResourceVersion())
}
