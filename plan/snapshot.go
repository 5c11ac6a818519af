package plan

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
	// Webhooks are the cluster's admission webhook configurations that
	// carry an Istio revision label or call an istiod.
	Webhooks         []Webhook
	Gateways         []MeshGateway
	EnvoyFilters     []EnvoyFilter
	HeadlessServices []ObjectRef
	// SharedProxies are the DaemonSets every live revision's proxies
	// depend on (istio-cni-node, ztunnel), in any namespace.
	SharedProxies []ObjectRef
	// Permissions are the access checks of every verb apply uses, for
	// PermissionsOf.
	Permissions []Permission
	// Install is what the cluster says of each object of the plan's
	// manifest (config.InstallConfig.Objects), in the same order; nil
	// without an install block. The rest of the snapshot shows the cluster
	// as it will be once the manifest is applied: its control plane and
	// webhooks are among ControlPlanes and Webhooks.
	Install []ManifestObjectState
	// PermissionsOf is whom Permissions are about: the zero Identity is the
	// caller; otherwise the identity that will apply, which plan was asked
	// about (plan -permissions-for).
	PermissionsOf Identity
	// Objects is the uid and resourceVersion of every object read; a saved
	// plan keeps it so apply can refuse a plan the cluster has moved away from.
	Objects []ObjectVersion
}

// ManifestObjectState is what the cluster says of one object of an
// install's manifest.
type ManifestObjectState struct {
	// Served: the cluster serves the object's kind, or a CRD of the
	// manifest defines it.
	Served bool
	// Exists: the object is in the cluster; Labels are the live object's.
	Exists bool
	Labels map[string]string
	// Applied: meshwave applied this very object already (the live
	// object's AnnotationApplied is the manifest object's ManifestHash):
	// apply sends it no more, whatever others changed in it since.
	Applied bool
	// Changes are the fields a server-side apply would change, from its
	// dry run against the live object; nil for a new object.
	Changes []FieldChange
	// Refused is the API server's answer when it refused the dry run.
	Refused string
	// CRD is a live CustomResourceDefinition's versions.
	CRD *CRDVersions
}

// CRDVersions are the versions of a CustomResourceDefinition: those it
// serves and those objects are stored in, and the release that installed
// it (its app.kubernetes.io/version label, "" when it has none).
type CRDVersions struct {
	Release string
	Served  []string
	Stored  []string
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
	UID             string
	ResourceVersion string
}

// Namespace is a namespace and its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
	// Terminating: the namespace's deletion has started. Nothing in it is
	// relabeled or restarted (no new pod can be created there).
	Terminating bool
	// Management says whether a GitOps controller manages it (GitOpsOf).
	Management Management
}

// WorkloadKind names the kind of object that owns pods.
type WorkloadKind string

const (
	KindDeployment  WorkloadKind = "Deployment"
	KindStatefulSet WorkloadKind = "StatefulSet"
	KindDaemonSet   WorkloadKind = "DaemonSet"
	KindJob         WorkloadKind = "Job"
	KindBarePod     WorkloadKind = "Pod"
	// KindRollout is Argo Rollouts' Rollout (argoproj.io): restarted
	// through its spec.restartAt, which its controller acts on by evicting
	// the older pods.
	KindRollout WorkloadKind = "Rollout"
)

// Workload is a pod owner (or a bare pod) and its current pods.
type Workload struct {
	Kind      WorkloadKind
	Namespace string
	Name      string
	// Paused is a Deployment's spec.paused (a Rollout's, or its Paused
	// phase), and UpdateStrategy a StatefulSet's or DaemonSet's
	// spec.updateStrategy.type: with Kind, what NotRollable decides whether
	// a restart rolls the pods on.
	Paused         bool
	UpdateStrategy string
	// Group is the API group of Kind when meshwave does not restart that
	// kind (an operator's custom resource, a Knative Revision): the top of
	// the pods' owner chain, the object a person restarts them through.
	Group string
	// TemplateRef is a Rollout's spec.workloadRef ("Deployment web"): its
	// pod template lives in another object.
	TemplateRef string
	// TemplateLabels and TemplateAnnotations are the labels and
	// annotations of its pod template, which its next pod carries: the
	// injection webhooks' object selectors read the labels, and the
	// injector the sidecar.istio.io/inject label or annotation
	// (PodInjections, InjectionOptedOut). A bare pod's or an unknown
	// controller's are its pod's.
	TemplateLabels      map[string]string
	TemplateAnnotations map[string]string
	// ProxyImagePin is the pod template's sidecar.istio.io/proxyImage
	// annotation, and InjectTemplates the templates its
	// inject.istio.io/templates annotation names: empty when not set.
	ProxyImagePin   string
	InjectTemplates []string
	Pods            []Pod
}

// Pod is one pod's proxy facts.
type Pod struct {
	Name string
	// ProxyImage is the istio-proxy container's image; empty without sidecar.
	ProxyImage string
	// Revision is the revision that injected the pod (PodRevision).
	Revision string
	Ready    bool
}

// ControlPlane is one Istio control-plane revision.
type ControlPlane struct {
	// Revision as namespaces and pods name it: "cp-v17x.istio-system" for
	// backyards, "1-27" for istio; "default" for the unrevisioned one.
	Revision string
	// Kind, Name and Namespace of the object that installs it: the Istio
	// CR (backyards), the IstioOperator where one exists (istio), else the
	// revision's istiod Deployment.
	Kind      string
	Name      string
	Namespace string
	// Objects are the objects that make up the revision and that an
	// uninstall removes (UninstallSelector), in deletion order; empty for
	// the backyards flavor, whose operator removes them with the Istio CR.
	Objects []InstalledObject
	// HelmRelease is "namespace/name" of the Helm release that installed
	// the revision, when its objects say so.
	HelmRelease string
	// Endpoints are where the revision's webhooks call it (WebhookEndpoint).
	Endpoints []string
	// Version is the Istio version, e.g. "1.7.0".
	Version    string
	ProxyImage string
	// InjectTemplates are the injection templates the revision's injector
	// has (its ConfigMap's config.templates); nil when unknown.
	InjectTemplates []string
	// Default is true when this control plane injects namespaces labeled
	// istio-injection=enabled.
	Default bool
	// Istiod lists the istiod pods and whether each is Ready.
	Istiod []Pod
	// Tags are istio revision tags pointing at this revision.
	Tags []string
	// Settings are the revision's mesh config and injection values (the
	// spec of its Istio resource for backyards), which a new revision does
	// not inherit (CompareSettings).
	Settings Settings
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

// InstalledObject is one object of an installed revision.
type InstalledObject struct {
	ObjectRef
	// Tag is the object's istio.io/tag label: it belongs to a revision tag
	// (its webhook, its Service, the default validator), which moves with
	// the tag rather than going with the revision.
	Tag string
}

// Webhook is one admission webhook configuration that concerns Istio.
type Webhook struct {
	// Kind is MutatingWebhookConfiguration or ValidatingWebhookConfiguration.
	Kind string
	Name string
	// Revision and Tag are its istio.io/rev and istio.io/tag labels.
	Revision string
	Tag      string
	// Endpoints are where its webhooks call (WebhookEndpoint), sorted.
	Endpoints []string
	// Injectors are its sidecar-injection webhooks (mutating only).
	Injectors []InjectorSelectors
}

// InjectorSelectors are the selectors of one sidecar-injection webhook as
// the cluster holds them; nil selects everything, as it does for the API
// server. PodInjections evaluates them.
type InjectorSelectors struct {
	Name              string
	NamespaceSelector *metav1.LabelSelector
	ObjectSelector    *metav1.LabelSelector
}

// Ref is the webhook configuration as an object reference.
func (w Webhook) Ref() ObjectRef { return ObjectRef{Kind: w.Kind, Name: w.Name} }

// WebhookEndpoint names where a webhook calls: "service:NS/NAME" for an
// in-cluster service, or "url:SCHEME://HOST" for a URL (the path is left out:
// one server serves injection and validation on different paths).
func WebhookEndpoint(url, serviceNamespace, serviceName string) string {
	if serviceName != "" {
		return "service:" + serviceNamespace + "/" + serviceName
	}
	if i := strings.Index(url, "://"); i >= 0 {
		if j := strings.IndexByte(url[i+3:], '/'); j >= 0 {
			url = url[:i+3+j]
		}
	}
	return "url:" + url
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
	// Management says whether a GitOps controller manages the object a
	// gateway move changes (GitOpsOf).
	Management Management
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

// Identity is a Kubernetes user and the groups it belongs to, as an
// access review names them. The zero Identity is the caller.
type Identity struct {
	User   string
	Groups []string
}

// IsCaller reports whether id is the caller: no user named.
func (id Identity) IsCaller() bool { return id.User == "" }

// String names id in messages: user NAME, with its groups.
func (id Identity) String() string {
	if id.IsCaller() {
		return "you"
	}
	s := "user " + id.User
	if len(id.Groups) > 0 {
		s += " (groups " + strings.Join(id.Groups, ", ") + ")"
	}
	return s
}

// Permission is the result of one access review (SelfSubjectAccessReview,
// or SubjectAccessReview for another identity).
type Permission struct {
	Verb      string
	Group     string
	Resource  string
	Namespace string
	Allowed   bool
}
