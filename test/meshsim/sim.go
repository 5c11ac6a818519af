package meshsim

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/yaml"
)

// Resources meshsim serves and watches.
var (
	GVRIstio         = schema.GroupVersionResource{Group: "istio.banzaicloud.io", Version: "v1beta1", Resource: "istios"}
	GVRMeshGateway   = schema.GroupVersionResource{Group: "istio.banzaicloud.io", Version: "v1beta1", Resource: "meshgateways"}
	GVREnvoyFilter   = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1alpha3", Resource: "envoyfilters"}
	GVRIstioOperator = schema.GroupVersionResource{Group: "install.istio.io", Version: "v1alpha1", Resource: "istiooperators"}
	gvrCRD           = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// Sim is a running simulated mesh: the injection webhook server and the
// operator controllers.
type Sim struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
	log  *log.Logger

	// baseURL is https://127.0.0.1:PORT of the webhook server; caPEM is
	// the CA that signed its certificate.
	baseURL string
	caPEM   []byte

	informers dynamicinformer.DynamicSharedInformerFactory
	listers   map[schema.GroupVersionResource]cache.GenericLister
	queue     workqueue.TypedRateLimitingInterface[objectKey]

	done    chan struct{}
	errMu   sync.Mutex
	lastErr error
}

// objectKey names one custom resource a controller reconciles.
type objectKey struct {
	Kind      string
	Namespace string
	Name      string
}

// Option configures Start.
type Option func(*Sim)

// WithLog sends meshsim's log (reconciles, injections, faults) to w.
func WithLog(w io.Writer) Option {
	return func(s *Sim) { s.log = log.New(w, "meshsim: ", log.Ltime|log.Lmicroseconds) }
}

// Start installs the CRDs, starts the webhook server on loopback and the
// controllers, and returns once they serve. Everything stops when ctx is
// done; Done is closed then.
func Start(ctx context.Context, cfg *rest.Config, opts ...Option) (*Sim, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 200, 400
	s := &Sim{log: log.New(io.Discard, "", 0), done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("meshsim: %w", err)
	}
	if s.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("meshsim: %w", err)
	}
	if err := s.installCRDs(ctx); err != nil {
		return nil, err
	}

	cert, caPEM, err := selfSignedCert()
	if err != nil {
		return nil, fmt.Errorf("meshsim: certificate: %w", err)
	}
	s.caPEM = caPEM
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("meshsim: listen: %w", err)
	}
	s.baseURL = "https://" + ln.Addr().String()
	srv := &http.Server{Handler: s.routes(), TLSConfig: tlsConfig(cert), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()

	s.informers = dynamicinformer.NewDynamicSharedInformerFactory(s.dyn, 10*time.Minute)
	s.listers = map[schema.GroupVersionResource]cache.GenericLister{}
	s.queue = workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[objectKey](50*time.Millisecond, 5*time.Second))
	kinds := map[schema.GroupVersionResource]string{GVRIstio: kindIstio, GVRIstioOperator: kindIstioOperator, GVRMeshGateway: kindMeshGateway, GVREnvoyFilter: ""}
	for gvr, kind := range kinds {
		inf := s.informers.ForResource(gvr)
		s.listers[gvr] = inf.Lister()
		if kind == "" {
			continue
		}
		_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { s.enqueue(kind, o) },
			UpdateFunc: func(_, o any) { s.enqueue(kind, o) },
			DeleteFunc: func(o any) { s.enqueue(kind, o) },
		})
		if err != nil {
			return nil, fmt.Errorf("meshsim: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	s.informers.Start(runCtx.Done())
	for gvr, ok := range s.informers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			_ = srv.Close()
			return nil, fmt.Errorf("meshsim: %s informer did not sync", gvr.Resource)
		}
	}
	if err := s.refreshWebhooks(ctx); err != nil {
		cancel()
		_ = srv.Close()
		return nil, err
	}
	// Owned objects whose custom resource went away while no meshsim ran.
	s.enqueueOrphans(ctx)

	var workers sync.WaitGroup
	for range 2 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for s.processNext(runCtx) {
			}
		}()
	}
	go func() {
		<-runCtx.Done()
		s.queue.ShutDown()
		shutCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(shutCtx)
		c()
		workers.Wait()
		s.informers.Shutdown()
		close(s.done)
	}()
	go func() {
		<-ctx.Done()
		cancel()
	}()
	s.log.Printf("serving webhooks at %s", s.baseURL)
	return s, nil
}

// Done is closed when the simulator has stopped.
func (s *Sim) Done() <-chan struct{} { return s.done }

// URL is the base URL of the webhook server.
func (s *Sim) URL() string { return s.baseURL }

// Err returns the last reconcile error, for diagnostics.
func (s *Sim) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.lastErr
}

func (s *Sim) enqueue(kind string, o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return
	}
	s.queue.Add(objectKey{Kind: kind, Namespace: u.GetNamespace(), Name: u.GetName()})
}

func (s *Sim) processNext(ctx context.Context) bool {
	key, shutdown := s.queue.Get()
	if shutdown {
		return false
	}
	defer s.queue.Done(key)
	var err error
	switch key.Kind {
	case kindIstio:
		err = s.reconcileIstio(ctx, key)
	case kindIstioOperator:
		err = s.reconcileIstioOperator(ctx, key)
	case kindMeshGateway:
		err = s.reconcileMeshGateway(ctx, key)
	}
	if err != nil && ctx.Err() == nil {
		s.errMu.Lock()
		s.lastErr = err
		s.errMu.Unlock()
		s.log.Printf("reconcile %s %s/%s: %v (retrying)", key.Kind, key.Namespace, key.Name, err)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// installCRDs creates or updates the CRDs and waits until they are served.
func (s *Sim) installCRDs(ctx context.Context) error {
	entries, err := crdFiles.ReadDir("crds")
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		raw, err := crdFiles.ReadFile("crds/" + e.Name())
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
			return fmt.Errorf("meshsim: %s: %w", e.Name(), err)
		}
		if err := s.apply(ctx, gvrCRD, obj); err != nil {
			return fmt.Errorf("meshsim: install CRD %s: %w", obj.GetName(), err)
		}
		names = append(names, obj.GetName())
	}
	sort.Strings(names)
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			crd, err := s.dyn.Resource(gvrCRD).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("meshsim: CRD %s not established: %w", name, err)
		}
	}
	return nil
}

// apply creates obj, or replaces the existing object's content with it.
func (s *Sim) apply(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	ri := s.dyn.Resource(gvr).Namespace(obj.GetNamespace())
	if obj.GetNamespace() == "" {
		ri = s.dyn.Resource(gvr)
	}
	_, err := ri.Create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	return retryConflict(func() error {
		cur, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		obj.SetResourceVersion(cur.GetResourceVersion())
		_, err = ri.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	})
}

// retryConflict retries f while it fails with a conflict.
func retryConflict(f func() error) error { return retry.RetryOnConflict(retry.DefaultRetry, f) }

// get reads a custom resource from the informer cache; nil when absent.
func (s *Sim) get(gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	o, err := s.listers[gvr].ByNamespace(ns).Get(name)
	if err != nil {
		return nil
	}
	u, _ := o.(*unstructured.Unstructured)
	return u
}

// list reads all custom resources of gvr (in ns, or all when ns is empty)
// from the informer cache.
func (s *Sim) list(gvr schema.GroupVersionResource, ns string) []*unstructured.Unstructured {
	var objs []any
	var err error
	if ns == "" {
		var l []any
		ro, e := s.listers[gvr].List(everything)
		for _, o := range ro {
			l = append(l, o)
		}
		objs, err = l, e
	} else {
		ro, e := s.listers[gvr].ByNamespace(ns).List(everything)
		for _, o := range ro {
			objs = append(objs, o)
		}
		err = e
	}
	if err != nil {
		return nil
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].GetNamespace()+"/"+out[i].GetName() < out[j].GetNamespace()+"/"+out[j].GetName()
	})
	return out
}

// waitCached waits until the informer cache holds the object at least at
// resourceVersion rv (or, with rv empty, no longer holds it), so that the
// webhook sees a change a setter just made.
func (s *Sim) waitCached(ctx context.Context, gvr schema.GroupVersionResource, ns, name, rv string) error {
	return wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		u := s.get(gvr, ns, name)
		if rv == "" {
			return u == nil, nil
		}
		return u != nil && rvAtLeast(u.GetResourceVersion(), rv), nil
	})
}

// rvAtLeast compares resourceVersions, which etcd makes decimal integers.
func rvAtLeast(have, want string) bool {
	if len(have) != len(want) {
		return len(have) > len(want)
	}
	return have >= want
}

var everything = labels.Everything()
