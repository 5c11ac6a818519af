package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
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
	if clientcmd.IsEmptyConfig(err) {
		// client-go would say "try setting KUBERNETES_MASTER", a variable
		// it no longer reads; say which kubeconfig was empty instead.
		return nil, fmt.Errorf("load kubeconfig: %s; pass -kubeconfig FILE, or set KUBECONFIG to the kubeconfig of the cluster to upgrade",
			noClusterWhere(rules))
	}
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return cfg, nil
}

// noClusterWhere says which kubeconfig defined no cluster.
func noClusterWhere(rules *clientcmd.ClientConfigLoadingRules) string {
	switch {
	case rules.ExplicitPath != "":
		return "the kubeconfig " + rules.ExplicitPath + " defines no cluster"
	case len(rules.Precedence) == 1 && os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "":
		return "KUBECONFIG is empty and " + rules.Precedence[0] + " does not exist or defines no cluster"
	}
	return "the kubeconfig files in KUBECONFIG (" + strings.Join(rules.Precedence, string(filepath.ListSeparator)) + ") define no cluster"
}

// ConnectOptions say which cluster to talk to and how fast.
type ConnectOptions struct {
	// Kubeconfig and Context select the cluster as kubectl's flags do.
	Kubeconfig, Context string
	// RequestTimeout bounds each request (zero: DefaultRequestTimeout).
	RequestTimeout time.Duration
	// QPS and Burst limit the requests sent (zero: DefaultQPS, DefaultBurst).
	QPS   float32
	Burst int
	// PermissionsFor is whom Observe's RBAC preflight asks about: the zero
	// Identity is the caller (SelfSubjectAccessReview), any other the
	// identity that will apply (SubjectAccessReview).
	PermissionsFor plan.Identity
}

// fieldManager is the name meshwave's writes carry in managedFields.
const fieldManager = "meshwave"

// Client-side rate limits: a wave of 1,000 namespaces sends a restart and a
// read per workload, which client-go's defaults (5 a second) would stretch
// over many minutes; the API server's own priority and fairness protects it.
const (
	DefaultQPS   = 200
	DefaultBurst = 400
)

// Connect loads the kubeconfig like kubectl (see RESTConfig) and returns a
// Provider for that cluster.
func Connect(o ConnectOptions, flavor plan.Flavor) (*Provider, error) {
	cfg, err := RESTConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = o.RequestTimeout
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	p, err := New(cfg, flavor)
	if err != nil {
		return nil, err
	}
	p.permissionsFor = o.PermissionsFor
	return p, nil
}

// DefaultRequestTimeout bounds an API request when the config sets none: an
// API server that accepts a connection and never answers must not hang
// meshwave.
const DefaultRequestTimeout = 30 * time.Second

// Provider observes the cluster and performs plan steps on it.
type Provider struct {
	host   string
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	meta   metadata.Interface
	flavor flavor
	now    func() time.Time
	// pageSize is the limit of each paginated list request.
	pageSize int64
	// backoff spaces the retries of a request that failed for a transient
	// reason (see call).
	backoff wait.Backoff
	// pollInterval spaces the reads of a wait that polls.
	pollInterval time.Duration
	// failGrace is how long a workload's controller must keep failing to
	// create its pods before a wait gives up on it: one refused pod can be
	// a blip, a refusal that persists is the cluster saying no.
	failGrace time.Duration
	// recheckAfter is how long a wait trusts the watch cache's silence:
	// when nothing it waits on has changed for that long, it reads what it
	// waits on from the API server itself (a watch can miss a change).
	recheckAfter time.Duration
	// evictRetry spaces the evictions of one pod a PodDisruptionBudget
	// refuses.
	evictRetry time.Duration
	// permissionsFor is whom the RBAC preflight asks about (the zero
	// Identity: the caller).
	permissionsFor plan.Identity

	// The watch cache apply's waits read, started by the first wait and
	// stopped by Close.
	cacheMu sync.Mutex
	cc      *clusterCache
	// probes are the run's dry-run pods, one per namespace.
	probes injectionProbes
	// kinds resolves the kinds of an install's manifest (manifest.go).
	kinds kindMapper
}

// Clients are the API clients a Provider talks to the cluster with.
type Clients struct {
	Kubernetes kubernetes.Interface
	Dynamic    dynamic.Interface
	Metadata   metadata.Interface
	// Host is the API server URL, for messages.
	Host string
}

// NewForClients returns a Provider of a plan of flavor fl that talks to the
// cluster through c.
func NewForClients(c Clients, fl plan.Flavor) (*Provider, error) {
	f, err := flavorNamed(fl)
	if err != nil {
		return nil, err
	}
	return &Provider{host: c.Host, cs: c.Kubernetes, dyn: c.Dynamic, meta: c.Metadata, flavor: f,
		now: time.Now, pageSize: 500, backoff: transientBackoff, pollInterval: time.Second, failGrace: 5 * time.Second,
		recheckAfter: 30 * time.Second, evictRetry: 5 * time.Second}, nil
}

// New returns a Provider for the cluster cfg points at. cfg.Timeout (zero:
// DefaultRequestTimeout) bounds every request except watches, which wait as
// long as their caller's context allows (a rollout's timeout): applied to
// the whole HTTP client, as client-go does, it would cut every watch.
func New(cfg *rest.Config, flavor plan.Flavor) (*Provider, error) {
	cfg = rest.CopyConfig(cfg)
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	cfg.Timeout = 0
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &requestTimeout{next: rt, after: timeout} })
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return uncompressedWatches{next: rt} })
	if cfg.UserAgent == "" {
		// The API server names meshwave's writes in managedFields after
		// it, whatever the binary is called (see labelsSetBack).
		cfg.UserAgent = fieldManager + "/" + rest.DefaultKubernetesUserAgent()
	}
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	// Built-in objects travel as protobuf: a list of thousands of pods
	// decodes several times faster, in less memory, than as JSON. The
	// dynamic and metadata clients (custom resources) stay on JSON.
	pb := rest.CopyConfig(cfg)
	pb.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	pb.ContentType = runtime.ContentTypeProtobuf
	cs, err := kubernetes.NewForConfig(pb)
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
	return NewForClients(Clients{Kubernetes: cs, Dynamic: dyn, Metadata: meta, Host: cfg.Host}, flavor)
}

// cache returns the run's watch cache, starting it on first use, once its
// first lists are in.
func (p *Provider) cache(ctx context.Context) (*clusterCache, error) {
	p.cacheMu.Lock()
	if p.cc == nil {
		noRollouts, err := p.rolloutsWatchable(ctx)
		if err != nil {
			p.cacheMu.Unlock()
			return nil, err
		}
		p.cc = newClusterCache(p, noRollouts)
		p.cc.start()
	}
	cc := p.cc
	p.cacheMu.Unlock()
	if err := cc.waitSynced(ctx); err != nil {
		return nil, err
	}
	return cc, nil
}

// Close stops the watches apply's waits started.
func (p *Provider) Close() {
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if p.cc != nil {
		p.cc.close()
		p.cc = nil
	}
}

// Host is the API server URL the provider talks to.
func (p *Provider) Host() string { return p.host }

// requestTimeout ends a request that is not a watch when the API server has
// not sent the whole response within after.
type requestTimeout struct {
	next  http.RoundTripper
	after time.Duration
}

func (t *requestTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	if isWatch(req) {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.after)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if ctx.Err() == context.DeadlineExceeded && req.Context().Err() == nil {
			return nil, fmt.Errorf("the API server did not answer within %s (-request-timeout): %w", t.after, err)
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// uncompressedWatches asks for watches without gzip. A watch's events are
// flushed one by one: compressed, each costs the API server a gzip flush and
// meshwave a decompression, for little gain in bytes. At 1,000 namespaces
// apply's watch of pods carries every pod through every change of a
// rollout, and its decompression alone was 8 % of apply's CPU (a profile of
// the cluster benchmark). Lists, read once, stay compressed.
type uncompressedWatches struct{ next http.RoundTripper }

func (t uncompressedWatches) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isWatch(req) || req.Header.Get("Accept-Encoding") != "" {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Accept-Encoding", "identity")
	return t.next.RoundTrip(req)
}

// isWatch reports whether req is a watch (client-go sends ?watch=true).
func isWatch(req *http.Request) bool { return req.URL.Query().Get("watch") == "true" }

// cancelOnClose keeps a request's deadline running while its body is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
