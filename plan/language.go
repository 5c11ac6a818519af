package plan

import "github.com/meshwave/meshwave/plan/config"

// The plan model (model.go) speaks of the upgrade, its flavor and a wave's
// gates in the plan language's own types (plan/config), so that a plan
// carries what its file said. These names are those types, not copies: the
// model and the code that reads a plan say plan.Gate, plan.FlavorIstio.
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
