package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/providers/kube"
)

// kubeFlags select the cluster the way kubectl does.
type kubeFlags struct {
	kubeconfig     string
	context        string
	requestTimeout time.Duration
	qps            float32
	burst          int
	// permissionsFor and permissionsForGroups name the identity the RBAC
	// preflight asks about (plan only; none: the caller).
	permissionsFor       string
	permissionsForGroups []string
}

func (f *kubeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", kube.DefaultRequestTimeout,
		"give up on an API request the server has not answered within this time (watches are bounded by the wave's timeout)")
	fs.Float32Var(&f.qps, "qps", kube.DefaultQPS, "at most this many API requests a second, on average")
	fs.IntVar(&f.burst, "burst", kube.DefaultBurst, "at most this many API requests at once above -qps")
}

// registerPermissionsFor adds the flags that make the RBAC preflight ask
// about the identity that will apply instead of the caller.
func (f *kubeFlags) registerPermissionsFor(fs *pflag.FlagSet) {
	fs.StringVar(&f.permissionsFor, "permissions-for", "",
		"check apply's permissions (MW012) for this Kubernetes user, e.g. system:serviceaccount:ci:meshwave-apply, with SubjectAccessReviews, instead of for the caller; the caller needs create on subjectaccessreviews.authorization.k8s.io")
	fs.StringArrayVar(&f.permissionsForGroups, "permissions-for-group", nil,
		"a group of the -permissions-for user whose bindings count too (repeatable; the API server adds none by itself, not even system:authenticated)")
}

// permissionsIdentity is whom the preflight asks about: the caller (the
// zero Identity) unless -permissions-for names a user.
func (f *kubeFlags) permissionsIdentity() (plan.Identity, error) {
	if f.permissionsFor == "" {
		if len(f.permissionsForGroups) > 0 {
			return plan.Identity{}, fmt.Errorf("-permissions-for-group needs -permissions-for: the groups belong to the user whose permissions plan checks")
		}
		return plan.Identity{}, nil
	}
	for _, g := range f.permissionsForGroups {
		if g == "" {
			return plan.Identity{}, fmt.Errorf("-permissions-for-group: a group has a name")
		}
	}
	return plan.Identity{User: f.permissionsFor, Groups: f.permissionsForGroups}, nil
}

// provider connects to the cluster for a plan of the given flavor.
func (f *kubeFlags) provider(flavor plan.Flavor) (*kube.Provider, error) {
	if f.requestTimeout <= 0 {
		return nil, fmt.Errorf("-request-timeout must be positive, got %s", f.requestTimeout)
	}
	if f.qps <= 0 || f.burst <= 0 {
		return nil, fmt.Errorf("-qps and -burst must be positive, got %g and %d", f.qps, f.burst)
	}
	who, err := f.permissionsIdentity()
	if err != nil {
		return nil, err
	}
	return kube.Connect(kube.ConnectOptions{Kubeconfig: f.kubeconfig, Context: f.context, RequestTimeout: f.requestTimeout,
		QPS: f.qps, Burst: f.burst, PermissionsFor: who}, flavor)
}
