package kube

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshwave/meshwave/plan"
)

// Resources of the Istio flavors meshwave reads and changes.
var (
	gvrIstio         = schema.GroupVersionResource{Group: "istio.banzaicloud.io", Version: "v1beta1", Resource: "istios"}
	gvrMeshGateway   = schema.GroupVersionResource{Group: "istio.banzaicloud.io", Version: "v1beta1", Resource: "meshgateways"}
	gvrEnvoyFilter   = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "envoyfilters"}
	gvrIstioOperator = schema.GroupVersionResource{Group: "install.istio.io", Version: "v1alpha1", Resource: "istiooperators"}
)

// RESTConfig loads client configuration the way kubectl does: an explicit
// kubeconfig path wins, then $KUBECONFIG, then ~/.kube/config; context
// overrides the current context.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return cfg, nil
}

// Connect loads the kubeconfig like kubectl (see RESTConfig) and returns a
// Provider for that cluster.
func Connect(kubeconfig, context string, flavor plan.Flavor) (*Provider, error) {
	cfg, err := RESTConfig(kubeconfig, context)
	if err != nil {
		return nil, err
	}
	return New(cfg, flavor)
}

// Provider observes the cluster and performs plan steps on it.
type Provider struct {
	host   string
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	meta   metadata.Interface
	flavor plan.Flavor
	now    func() time.Time
	// pageSize is the limit of each paginated list request.
	pageSize int64
}

// New returns a Provider for the cluster cfg points at.
func New(cfg *rest.Config, flavor plan.Flavor) (*Provider, error) {
	cfg = rest.CopyConfig(cfg)
	// meshwave issues few, large requests; client-side throttling would only
	// slow rollouts down.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	return &Provider{host: cfg.Host, cs: cs, dyn: dyn, meta: meta, flavor: flavor, now: time.Now, pageSize: 500}, nil
}

// Host is the API server URL the provider talks to.
func (p *Provider) Host() string { return p.host }
