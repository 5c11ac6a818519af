package kube

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// flavor is the cluster side of one kind of Istio installation: what the
// provider reads beyond the objects every flavor has, how it turns those
// objects into the snapshot's control planes and gateways, and how it moves
// a gateway between revisions. Each flavor is one file (flavor_*.go) and one
// line in flavors; nothing else in the package tells flavors apart.
type flavor interface {
	// fetch reads into o what only this flavor's snapshot needs.
	fetch(ctx context.Context, p *Provider, o *clusterObjects) error
	// controlPlanes finds the flavor's control planes in o, sorted by
	// revision.
	controlPlanes(o *clusterObjects) []plan.ControlPlane
	// gateways reads the gateways a plan of cfg may move; with a nil cfg
	// (no plan yet: ObserveAll), every gateway the flavor has.
	gateways(cfg *config.Config, o *clusterObjects) []plan.MeshGateway
	// gatewayRevision reads the revision a gateway belongs to.
	gatewayRevision(ctx context.Context, p *Provider, obj *plan.ObjectRef) (string, error)
	// setGatewayRevision moves a gateway to revision rev; moving it where it
	// is already changes nothing.
	setGatewayRevision(ctx context.Context, p *Provider, obj *plan.ObjectRef, rev string) error
	// gatewayResource is what a gateway move patches, for the RBAC preflight.
	gatewayResource() schema.GroupResource
	// uninstallKinds are the kinds of object an uninstall of the control
	// planes old deletes.
	uninstallKinds(old []plan.ControlPlane) map[string]bool
	// asInstalled is o with the objects of an install's manifest as the
	// cluster will hold them once applied and, where an operator renders
	// them into more, reconciled: the plan is computed against it.
	asInstalled(o *clusterObjects, objs []config.ManifestObject) *clusterObjects
	// installReconciled says, as an error, why the control plane an install
	// step applied is not installed yet by whatever installs it (nil when
	// it is); the install wait asks it before it waits on istiod's rollout.
	installReconciled(ctx context.Context, p *Provider, s plan.Step) error
	// installInjects proves, with a dry-run pod, that the installed
	// revision injects a pod that selects it, and says where it tried.
	installInjects(ctx context.Context, p *Provider, s plan.Step) (where string, err error)
}

// flavors registers each flavor once, by the name a plan gives it.
var flavors = map[plan.Flavor]flavor{
	plan.FlavorBackyards: backyards{},
	plan.FlavorIstio:     upstreamIstio{},
}

// flavorNamed is the registered flavor of that name.
func flavorNamed(name plan.Flavor) (flavor, error) {
	f, ok := flavors[name]
	if !ok {
		return nil, fmt.Errorf("unknown flavor %q", name)
	}
	return f, nil
}
