package main

import (
	"github.com/spf13/pflag"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/providers/kube"
)

// kubeFlags select the cluster the way kubectl does.
type kubeFlags struct {
	kubeconfig string
	context    string
}

func (f *kubeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
}

// provider connects to the cluster for a plan of the given flavor.
func (f *kubeFlags) provider(flavor plan.Flavor) (*kube.Provider, error) {
	return kube.Connect(f.kubeconfig, f.context, flavor)
}
