package plan

import "github.com/meshwave/meshwave/plan/config"

// FlavorRules is what the planner knows of one flavor: how its control
// planes are named, what its gateway moves and uninstalls change, how to
// word its hints, and the checks only it has. Each flavor implements it once
// (flavor_NAME.go) and is registered once in flavors below; the language's
// side of a flavor (its name, how its revisions are spelled) is in
// plan/config, the cluster's side in providers/kube.
//
// A control plane is found from the plan's from and to the same way in every
// flavor (findControlPlane: by revision, the "default" alias, or a revision
// tag); the flavor names what was found.
type FlavorRules interface {
	// IstiodName is the name of a control plane's istiod Deployment.
	IstiodName(cp ControlPlane) string
	// GatewayKind is the kind of the object a gateway block moves.
	GatewayKind() string
	// ControlPlaneKind is the kind of the object that installs a control
	// plane, which the uninstall deletes, when the snapshot does not say.
	ControlPlaneKind() string
	// InstallHint says how to install the missing target revision to.
	InstallHint(to string) string
	// TagMoveHint ends the hint of a source control plane that revision
	// tags still point at: how to move them to revision to.
	TagMoveHint(to string) string
	// RevisionSpecific reports whether a setting (its source and path, as
	// in Settings) is expected to differ between any two revisions, as
	// their names and versions do: the plan does not list it.
	RevisionSpecific(source, path string) bool
	// Checks are the flavor's own checks of the cluster; target is nil
	// when the target control plane is not installed.
	Checks(snap *Snapshot, target *ControlPlane) []Check
	// ManifestRevision is the revision an object of an install's manifest
	// installs, and what of the object says so ("label istio.io/rev");
	// ok is false for an object of no revision.
	ManifestRevision(o config.ManifestObject) (rev, by string, ok bool)
	// ManifestWants says, in the check of a manifest that installs no
	// revision, which object would install revision to, and how to write
	// the manifest that holds it.
	ManifestWants(to string) (want, hint string)
}

// flavors registers the planner's rules of every flavor, by name.
var flavors = map[Flavor]FlavorRules{
	FlavorBackyards: backyardsRules{},
	FlavorIstio:     istioRules{},
}

// RulesOf returns the planner's rules of flavor f. A Config from
// config.Load always names a registered flavor; any other name gets the
// Backyards rules, meshwave's first flavor.
func RulesOf(f Flavor) FlavorRules {
	if rules, ok := flavors[f]; ok {
		return rules
	}
	return backyardsRules{}
}
