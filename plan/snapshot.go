package plan

// Snapshot is what providers/kube read from the cluster, in plain types, so
// the plan can be computed (and tested) without a cluster.
type Snapshot struct {
	// ServerVersion is the API server's gitVersion, e.g. "v1.37.2".
	ServerVersion string
	// BackyardsVersion is the installed Backyards release (e.g. "1.4.1"),
	// empty when Backyards is not installed or its version is unknown.
	BackyardsVersion string
	Namespaces       []Namespace
	Workloads        []Workload
	ControlPlanes    []ControlPlane
	Webhooks         []InjectionWebhook
	Gateways         []MeshGateway
	EnvoyFilters     []EnvoyFilter
	HeadlessServices []ObjectRef
	// Permissions are the caller's access checks for every verb apply uses.
	Permissions []Permission
	// Objects is the uid and resourceVersion of every object read; a saved
	// plan keeps it so apply can refuse a plan the cluster has moved away from.
	Objects []ObjectVersion
}

// ObjectRef names one Kubernetes object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// ObjectVersion is an object's identity and version at the time it was read.
type ObjectVersion struct {
	ObjectRef
	UID             string `json:"uid"`
	ResourceVersion string `json:"resource_version"`
}

// Namespace is a namespace and its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// WorkloadKind names the kind of object that owns pods.
type WorkloadKind string

const (
	KindDeployment  WorkloadKind = "Deployment"
	KindStatefulSet WorkloadKind = "StatefulSet"
	KindDaemonSet   WorkloadKind = "DaemonSet"
	KindJob         WorkloadKind = "Job"
	KindBarePod     WorkloadKind = "Pod"
)

// Workload is a pod owner (or a bare pod) and its current pods.
type Workload struct {
	Kind      WorkloadKind
	Namespace string
	Name      string
	// Paused is a Deployment's spec.paused, and UpdateStrategy a
	// StatefulSet's or DaemonSet's spec.updateStrategy.type: with Kind, what
	// NotRollable decides whether a restart rolls the pods on.
	Paused         bool
	UpdateStrategy string
	// InjectDisabled is true when the pod template opts out of injection
	// (label sidecar.istio.io/inject=false).
	InjectDisabled bool
	Pods           []Pod
}

// Pod is one pod's proxy facts.
type Pod struct {
	Name string
	// ProxyImage is the istio-proxy container's image; empty without sidecar.
	ProxyImage string
	// Revision is the pod's istio.io/rev label.
	Revision string
	Ready    bool
}

// ControlPlane is one Istio control-plane revision.
type ControlPlane struct {
	// Revision as namespaces and pods name it: "cp-v17x.istio-system" for
	// backyards, "1-27" for istio; "default" for the unrevisioned one.
	Revision string
	// Name and Namespace of the object that installs it: the Istio CR
	// (backyards) or the IstioOperator (istio).
	Name      string
	Namespace string
	// Version is the Istio version, e.g. "1.7.0".
	Version    string
	ProxyImage string
	// Default is true when this control plane injects namespaces labeled
	// istio-injection=enabled.
	Default bool
	// Istiod lists the istiod pods and whether each is Ready.
	Istiod []Pod
	// Tags are istio revision tags pointing at this revision.
	Tags []string
}

// Ready reports whether at least one istiod pod runs and every istiod pod is
// Ready.
func (c ControlPlane) Ready() bool {
	if len(c.Istiod) == 0 {
		return false
	}
	for _, p := range c.Istiod {
		if !p.Ready {
			return false
		}
	}
	return true
}

// InjectionWebhook is a sidecar-injection mutating webhook and the revision
// it injects.
type InjectionWebhook struct {
	Name     string
	Revision string
}

// MeshGateway is a gateway managed by a control plane (the backyards
// MeshGateway custom resource, or an istio gateway deployment).
type MeshGateway struct {
	Name      string
	Namespace string
	// ControlPlane is the revision the gateway belongs to.
	ControlPlane string
	// RunAsRoot is spec.runAsRoot; nil when omitted.
	RunAsRoot *bool
	Ports     []GatewayPort
	Pods      []Pod
}

// GatewayPort is one of a gateway's ports.
type GatewayPort struct {
	Name       string
	Port       int32
	TargetPort int32
}

// EnvoyFilter is the part of an EnvoyFilter the 1.7 Lua check needs.
type EnvoyFilter struct {
	Namespace string
	Name      string
	// UsesLua is true when a patch configures the envoy.lua filter.
	UsesLua bool
	// OldLuaSyntax is true when that Lua config uses the pre-1.7 syntax
	// (config.inlineCode rather than a typed_config).
	OldLuaSyntax bool
	// ProxyVersionMatch is true when every Lua patch is limited by a
	// match.proxy.proxyVersion.
	ProxyVersionMatch bool
}

// Permission is the result of one SelfSubjectAccessReview.
type Permission struct {
	Verb      string
	Group     string
	Resource  string
	Namespace string
	Allowed   bool
}
