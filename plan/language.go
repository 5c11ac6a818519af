package plan

import "github.com/meshwave/meshwave/plan/config"

// The plan model speaks of the upgrade, its flavor and a wave's gates in the
// plan language's own types (plan/config), so that a plan shows what its
// file said. The names below let the model and its users say plan.Gate.
type (
	Upgrade = config.Upgrade
	Flavor  = config.Flavor
	Gate    = config.Gate
)

// The flavor names, as the plan and its users read them.
const (
	FlavorBackyards = config.FlavorBackyards
	FlavorIstio     = config.FlavorIstio
)
