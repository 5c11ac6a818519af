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
}

func (f *kubeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", kube.DefaultRequestTimeout,
		"give up on an API request the server has not answered within this time (watches are bounded by the wave's timeout)")
}

// provider connects to the cluster for a plan of the given flavor.
func (f *kubeFlags) provider(flavor plan.Flavor) (*kube.Provider, error) {
	if f.requestTimeout <= 0 {
		return nil, fmt.Errorf("-request-timeout must be positive, got %s", f.requestTimeout)
	}
	return kube.Connect(f.kubeconfig, f.context, f.requestTimeout, flavor)
}
