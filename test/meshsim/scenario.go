package meshsim

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/utils/ptr"
)

// Flavor is the kind of Istio installation a control plane simulates.
type Flavor string

const (
	// FlavorBackyards is a Banzai Cloud istio-operator Istio CR; its revision
	// is "<name>.<namespace>".
	FlavorBackyards Flavor = "backyards"
	// FlavorIstio is an upstream IstioOperator; its revision is spec.revision.
	FlavorIstio Flavor = "istio"
)

// Scenario is a mesh to install: control planes, revision tags, namespaces
// with workloads, and gateways.
type Scenario struct {
	Name          string
	ControlPlanes []ControlPlane
	Tags          []Tag
	Namespaces    []Namespace
	Gateways      []Gateway
}

// ControlPlane is one Istio control plane.
type ControlPlane struct {
	Flavor    Flavor
	Name      string
	Namespace string
	// Version is the Istio version, "1.7.0".
	Version string
	// ProxyImage defaults to the flavor's proxyv2 image of Version.
	ProxyImage string
	// Revision is an upstream control plane's spec.revision ("1-26"); empty
	// is the default revision. Backyards revisions are <name>.<namespace>.
	Revision string
	// Default makes a Backyards control plane inject namespaces labeled
	// istio-injection=enabled.
	Default bool
	// Unhealthy: the pods it injects never become Ready.
	Unhealthy bool
}

// Rev is the revision namespaces and pods name the control plane by.
func (c ControlPlane) Rev() string {
	if c.Flavor == FlavorBackyards {
		return c.Name + "." + c.Namespace
	}
	if c.Revision == "" {
		return "default"
	}
	return c.Revision
}

// Tag is an upstream revision tag.
type Tag struct{ Name, Revision string }

// Namespace is a namespace, its labels and its workloads.
type Namespace struct {
	Name      string
	Labels    map[string]string
	Workloads []Workload
}

// WorkloadKind is the kind of a scenario workload.
type WorkloadKind string

const (
	Deployment  WorkloadKind = "Deployment"
	StatefulSet WorkloadKind = "StatefulSet"
	DaemonSet   WorkloadKind = "DaemonSet"
)

// Workload is an application workload.
type Workload struct {
	Kind WorkloadKind // Deployment when empty
	Name string
	// Replicas defaults to 1 (DaemonSets run one pod on the one node).
	Replicas int32
	// Containers is the number of application containers, default 1.
	Containers int
	// Labels are added to the workload and its pod template (e.g.
	// sidecar.istio.io/inject=false, or istio.io/rev for pod-level
	// injection).
	Labels map[string]string
	// IstioGateway makes an upstream gateway: a pod with an istio-proxy
	// container of image "auto" that injection fills in.
	IstioGateway bool
	// PodAnnotations are added to the pod template, e.g. testenv's
	// AnnotationStartDelay and AnnotationStartDelayMax to choose how long
	// each pod takes to start (the benchmark's regimes).
	PodAnnotations map[string]string
}

// Gateway is a Banzai MeshGateway.
type Gateway struct {
	Name      string
	Namespace string
	// ControlPlane names the Istio CR (spec.istioControlPlane).
	ControlPlaneName, ControlPlaneNamespace string
	Type                                    string // ingress (default) or egress
	RunAsRoot                               *bool
	Ports                                   []GatewayPort
}

// GatewayPort is one of spec.ports.
type GatewayPort struct {
	Name             string
	Port, TargetPort int32
}

// Names of the built-in scenarios.
const (
	ScenarioBackyards = "backyards-1.6-to-1.7"
	// ScenarioBackyardsOnly16 is the guide's cluster before `backyards
	// install -a`: only the 1.6 control plane.
	ScenarioBackyardsOnly16 = "backyards-1.6-only"
	ScenarioIstio           = "istio-1-26-to-1-27"
)

// Scenarios returns the built-in scenarios by name.
func Scenarios() map[string]Scenario {
	return map[string]Scenario{
		ScenarioBackyards:       backyards16to17(),
		ScenarioBackyardsOnly16: backyards16only(),
		ScenarioIstio:           istio126to127(),
	}
}

// ScenarioNames lists the built-in scenarios.
func ScenarioNames() []string { return slices.Sorted(maps.Keys(Scenarios())) }

// backyards16to17 is the guide's starting point: Backyards with its Istio
// 1.6 control plane "mesh", and the 1.7 control plane cp-v17x that
// `backyards install -a` installed next to it; Backyards itself already
// runs on cp-v17x; demo-a and demo-b still run 1.6 proxies.
func backyards16to17() Scenario {
	root := ptr.To(true)
	by := func(name string, containers int) Workload {
		return Workload{Name: name, Containers: containers, Labels: map[string]string{"app": name}}
	}
	backyards := by("backyards", 2)
	backyards.Labels = map[string]string{"app": "backyards", "app.kubernetes.io/name": "backyards", "app.kubernetes.io/version": "1.4.1"}
	return Scenario{
		Name: ScenarioBackyards,
		ControlPlanes: []ControlPlane{
			{Flavor: FlavorBackyards, Name: "mesh", Namespace: "istio-system", Version: "1.6.3",
				ProxyImage: "docker.io/banzaicloud/istio-proxyv2:1.6.3-bzc", Default: true},
			{Flavor: FlavorBackyards, Name: "cp-v17x", Namespace: "istio-system", Version: "1.7.0",
				ProxyImage: "docker.io/banzaicloud/istio-proxyv2:1.7.0-bzc"},
		},
		Namespaces: []Namespace{
			{Name: "backyards-system", Labels: map[string]string{LabelRevision: "cp-v17x.istio-system"}, Workloads: []Workload{
				backyards, by("backyards-als", 1), by("backyards-grafana", 2), by("backyards-kubestatemetrics", 1),
				by("backyards-leo", 1), by("backyards-prometheus-operator", 2), by("backyards-sre-alert-exporter", 1),
				by("backyards-sre-controller", 1), by("backyards-tracing", 1),
				{Kind: StatefulSet, Name: "prometheus-backyards-prometheus", Containers: 3, Labels: map[string]string{"app": "prometheus"}},
				{Kind: DaemonSet, Name: "prometheus-node-exporter", Labels: map[string]string{"app": "prometheus-node-exporter", LabelInjectPod: "false"}},
			}},
			{Name: "demo-a", Labels: map[string]string{LabelInjection: "enabled"}, Workloads: []Workload{{Name: "app-a", Labels: map[string]string{"app": "app-a"}}}},
			{Name: "demo-b", Labels: map[string]string{LabelInjection: "enabled"}, Workloads: []Workload{{Name: "app-b", Labels: map[string]string{"app": "app-b"}}}},
		},
		Gateways: []Gateway{
			{Name: "istio-ingressgateway", Namespace: "istio-system", ControlPlaneName: "mesh", ControlPlaneNamespace: "istio-system",
				RunAsRoot: root, Ports: []GatewayPort{{"tcp-status-port", 15021, 15021}, {"http2", 80, 80}, {"https", 443, 443}}},
			{Name: "backyards-ingressgateway", Namespace: "backyards-system", ControlPlaneName: "cp-v17x", ControlPlaneNamespace: "istio-system",
				RunAsRoot: root, Ports: []GatewayPort{{"http2", 80, 8080}}},
		},
	}
}

// backyards16only is the cluster the guide starts from before `backyards
// install -a` adds the 1.7 control plane: the Istio 1.6 control plane
// "mesh", its ingress gateway, and demo-a and demo-b on it. A plan with an
// install block installs cp-v17x from its Istio resource. Backyards' own
// components (backyards-system and its backyards-ingressgateway) are left
// out: in the guide they come with the new control plane, installed by
// `backyards install -a` on cp-v17x, which meshwave does not do; so
// nothing runs on cp-v17x before the plan's waves move demo-a and demo-b.
func backyards16only() Scenario {
	full := backyards16to17()
	return Scenario{
		Name:          ScenarioBackyardsOnly16,
		ControlPlanes: full.ControlPlanes[:1],
		Namespaces: slices.DeleteFunc(slices.Clone(full.Namespaces), func(ns Namespace) bool {
			return ns.Labels[LabelRevision] == "cp-v17x.istio-system"
		}),
		Gateways: slices.DeleteFunc(slices.Clone(full.Gateways), func(g Gateway) bool { return g.ControlPlaneName == "cp-v17x" }),
	}
}

// istio126to127 is an upstream canary upgrade: revisions 1-26 and 1-27, the
// tag prod on 1-26, namespaces on 1-26 directly or through the tag, and an
// ingress gateway on 1-26.
func istio126to127() Scenario {
	app := func(name string) Workload { return Workload{Name: name, Labels: map[string]string{"app": name}} }
	return Scenario{
		Name: ScenarioIstio,
		ControlPlanes: []ControlPlane{
			{Flavor: FlavorIstio, Name: "istio-1-26", Namespace: "istio-system", Version: "1.26.3", Revision: "1-26"},
			{Flavor: FlavorIstio, Name: "istio-1-27", Namespace: "istio-system", Version: "1.27.1", Revision: "1-27"},
		},
		Tags: []Tag{{Name: "prod", Revision: "1-26"}},
		Namespaces: []Namespace{
			{Name: "shop-frontend", Labels: map[string]string{LabelRevision: "prod", "tier": "frontend"}, Workloads: []Workload{app("web"), app("cart")}},
			{Name: "shop-backend", Labels: map[string]string{LabelRevision: "1-26", "tier": "backend"}, Workloads: []Workload{app("orders"), app("payments")}},
			{Name: "billing", Labels: map[string]string{LabelRevision: "1-26", "tier": "backend"}, Workloads: []Workload{app("invoices")}},
			{Name: "edge", Labels: map[string]string{LabelRevision: "1-26", "tier": "frontend"}, Workloads: []Workload{app("edge-proxy")}},
			{Name: "istio-ingress", Workloads: []Workload{{Name: "istio-ingressgateway", IstioGateway: true,
				Labels: map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway", LabelRevision: "1-26"}}}},
		},
	}
}

// AppNamespace is a namespace with n one-replica Deployments app-0..app-<n-1>,
// for scale tests.
func AppNamespace(name string, labels map[string]string, n int) Namespace {
	ns := Namespace{Name: name, Labels: labels}
	for i := range n {
		w := fmt.Sprintf("app-%d", i)
		ns.Workloads = append(ns.Workloads, Workload{Name: w, Labels: map[string]string{"app": w}})
	}
	return ns
}
