package plan

import "github.com/meshwave/meshwave/plan/config"

// Compute turns a plan file and a snapshot of the cluster into the checks and
// ordered steps of the upgrade. It is pure: the same inputs give the same plan.
// The order of the calls is the order of the plan's checks and phases.
func Compute(cfg *config.Config, snap *Snapshot) *Plan {
	return ComputeWith(cfg, snap, History{})
}

// ComputeWith is Compute for an upgrade with a history: what earlier applies
// recorded, so the plan names what went away since (deleted.go).
func ComputeWith(cfg *config.Config, snap *Snapshot, hist History) *Plan {
	c := &computer{cfg: cfg, snap: snap, hist: hist, flavor: RulesOf(cfg.Upgrade.Flavor), p: &Plan{
		FormatVersion:     FormatVersion,
		Upgrade:           cfg.Upgrade,
		From:              cfg.Upgrade.From,
		To:                cfg.Upgrade.To,
		Flavor:            cfg.Upgrade.Flavor,
		SourceHash:        cfg.SourceHash,
		AutomaticRollback: cfg.Rollback.Automatic,
		Checks:            []Check{},
		Steps:             []Step{},
		Phases:            []Phase{},
		ManualFollowUp:    []FollowUp{},
	}}
	c.index()
	if c.source != nil {
		c.p.FromVersion = c.source.Version
	}
	if c.target != nil {
		c.p.ToVersion = c.target.Version
	}
	if c.source != nil && c.target != nil && c.source.Revision != c.target.Revision {
		c.p.Settings = CompareSettings(c.source.Settings, c.target.Settings, c.flavor.RevisionSpecific)
	}
	c.installChecks()
	c.controlPlaneChecks()
	c.configChecks()
	c.deletedChecks()
	c.permissionChecks()
	c.tagChecks()
	c.installSteps()
	c.tagSteps()
	c.gatewaySteps()
	for _, w := range cfg.Waves {
		c.waveSteps(w)
	}
	c.gitopsChecks()
	c.finalizeSteps()
	c.uninstallChecks()
	c.p.RollbackOrder = RollbackOrder(c.p.Steps, c.p.Phases)
	c.overlapChecks()
	c.summarize()
	return c.p
}

// computer holds one Compute: its inputs, the lookups index builds from
// them (lookups.go), and the plan it fills in. Its checks are in
// checks_FAMILY.go, its steps in steps.go and steps_wave.go, the summary in
// summary.go.
type computer struct {
	cfg    *config.Config
	snap   *Snapshot
	hist   History
	flavor FlavorRules
	p      *Plan

	source, target *ControlPlane
	// before routes revision labels as the cluster does now; after, once
	// the plan's tags are moved to the target.
	before, after Injectors
	// movedTags are the tags the plan moves.
	movedTags  map[string]bool
	namespaces map[string]Namespace
	workloads  map[string][]Workload // by namespace
	// injectors are the snapshot's injection webhooks, parsed once;
	// relabeled the labels of each planned namespace after its wave
	// (labelsAfterWave), computed once.
	injectors injectorSet
	relabeled map[string]map[string]string
	// planned is every namespace some wave moves.
	planned map[string]bool
	// deletedIn are each wave's namespaces deleted during the upgrade, and
	// isDeleted the same as a set (deleted.go).
	deletedIn map[string][]DeletedNamespace
	isDeleted map[string]map[string]bool
	// optedOutIn are each wave's workloads that opt out of injection
	// (optedOut), by namespace.
	optedOutIn map[string][]OptedOut
}

func (c *computer) add(ch Check) { c.p.Checks = append(c.p.Checks, ch) }

func (c *computer) index() {
	c.namespaces = map[string]Namespace{}
	for _, ns := range c.snap.Namespaces {
		c.namespaces[ns.Name] = ns
	}
	c.workloads = map[string][]Workload{}
	for _, w := range c.snap.Workloads {
		c.workloads[w.Namespace] = append(c.workloads[w.Namespace], w)
	}
	c.injectors = compileInjectors(c.snap.Webhooks)
	c.relabeled = map[string]map[string]string{}
	c.source = c.findControlPlane(c.cfg.Upgrade.From)
	c.target = c.findControlPlane(c.cfg.Upgrade.To)
	c.before = InjectorsOf(c.snap.ControlPlanes)
	c.after = c.before
	c.movedTags = map[string]bool{}
	if c.target != nil {
		c.after = c.before.Moved(c.cfg.Tags, c.target.Revision)
		for _, t := range c.cfg.Tags {
			c.movedTags[t.Name] = true
		}
	}
	c.optedOutIn = map[string][]OptedOut{}
	c.planned = map[string]bool{}
	for _, w := range c.cfg.Waves {
		for _, ns := range c.waveNamespaces(w) {
			c.planned[ns] = true
		}
	}
	c.indexDeleted()
}
