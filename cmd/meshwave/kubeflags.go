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
}

func (f *kubeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", kube.DefaultRequestTimeout,
		"give up on an API request the server has not answered within this time (watches are bounded by the wave's timeout)")
	fs.Float32Var(&f.qps, "qps", kube.DefaultQPS, "at most this many API requests a second, on average")
	fs.IntVar(&f.burst, "burst", kube.DefaultBurst, "at most this many API requests at once above -qps")
}

// provider connects to the cluster for a plan of the given flavor.
func (f *kubeFlags) provider(flavor plan.Flavor) (*kube.Provider, error) {
	if f.requestTimeout <= 0 {
		return nil, fmt.Errorf("-request-timeout must be positive, got %s", f.requestTimeout)
	}
	if f.qps <= 0 || f.burst <= 0 {
		return nil, fmt.Errorf("-qps and -burst must be positive, got %g and %d", f.qps, f.burst)
	}
	return kube.Connect(kube.ConnectOptions{Kubeconfig: f.kubeconfig, Context: f.context, RequestTimeout: f.requestTimeout,
		QPS: f.qps, Burst: f.burst}, flavor)
}
