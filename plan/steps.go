package plan

import (
	"strings"
)

// The steps outside the waves: tag moves, gateway moves and the uninstall.
// A wave's steps are in steps_wave.go.

// tagSteps move the plan's revision tags to the target, before anything
// else: the namespaces labeled with a tag then follow it as their workloads
// restart in the waves.
func (c *computer) tagSteps() {
	var steps []Step
	for _, tc := range c.cfg.Tags {
		st := Step{ID: "tag/" + tc.Name, Kind: StepTagMove, Action: ActionUpdate, Object: tagWebhookRef(tc.Name),
			FromImage: c.sourceImage(), ToImage: c.targetImage()}
		if c.target != nil {
			st.ToRevision = c.target.Revision
		}
		cur := c.before.Tags[tc.Name]
		if c.target != nil && cur == c.target.Revision {
			st.Action, st.Reason = ActionNoop, "tag already points at "+cur
		}
		st.FromRevision = cur
		steps = append(steps, st)
	}
	c.p.AddPhase(Phase{Kind: PhaseTags}, OneByOne(steps...)...)
}

// gatewaySteps move each gateway block's gateway to the target, one by
// one, before the waves.
func (c *computer) gatewaySteps() {
	var steps []Step
	for _, gc := range c.cfg.Gateways {
		g := c.findGateway(gc)
		ref := &ObjectRef{Kind: c.flavor.GatewayKind(), Namespace: gc.Namespace, Name: gc.Name}
		st := Step{ID: "gateway/" + gc.Namespace + "/" + gc.Name, Kind: StepGatewayMigrate, Action: ActionUpdate, Object: ref,
			ToRevision: c.cfg.Upgrade.To, FromImage: c.sourceImage(), ToImage: c.targetImage()}
		if g != nil {
			st.FromRevision = g.ControlPlane
			st.Pods = len(g.Pods)
			if c.target != nil && (g.ControlPlane == c.target.Revision || g.ControlPlane == c.cfg.Upgrade.To) && allOnTarget(c, g.Pods) {
				st.Action, st.Reason = ActionNoop, "gateway already runs on "+c.cfg.Upgrade.To
			}
		}
		steps = append(steps, st)
	}
	c.p.AddPhase(Phase{Kind: PhaseGateways}, OneByOne(steps...)...)
}

// finalize adds the finalize phase: the uninstall step.
func (c *computer) finalize(st Step) { c.p.AddPhase(Phase{Kind: PhaseFinalize}, []Step{st}) }

// finalizeSteps add the uninstall of the source control plane, when the
// plan asks for it; uninstallChecks say what it would break.
func (c *computer) finalizeSteps() {
	if !c.cfg.Finalize.UninstallOld {
		return
	}
	// The id names the revision as the plan file does, so it stays the same
	// once the control plane's own object is gone.
	id := "finalize/uninstall/" + c.cfg.Upgrade.From
	if c.source == nil {
		// Deleted already, maybe by an apply that stopped while its istiod
		// was shutting down: finish waiting for that istiod, or say there
		// is nothing left to do.
		for _, wl := range c.snap.Workloads {
			for _, p := range wl.Pods {
				if p.Revision == c.cfg.Upgrade.From && strings.HasPrefix(wl.Name, "istiod") {
					c.finalize(Step{ID: id, Kind: StepUninstall, Action: ActionDelete,
						Object:       &ObjectRef{Kind: c.flavor.ControlPlaneKind(), Namespace: wl.Namespace},
						FromRevision: c.cfg.Upgrade.From, Reason: "the control plane's resource is deleted; its istiod is still running"})
					return
				}
			}
		}
		c.finalize(Step{ID: id, Kind: StepUninstall, Action: ActionNoop, FromRevision: c.cfg.Upgrade.From,
			Reason: c.cfg.Upgrade.From + " is not installed any more"})
		return
	}
	src := c.source
	c.finalize(Step{ID: id, Kind: StepUninstall, Action: ActionDelete,
		Object: c.uninstallRef(src), Objects: c.uninstalledObjects(src), FromRevision: src.Revision, FromImage: src.ProxyImage})
}

// uninstallRef is the object that installed the source control plane.
func (c *computer) uninstallRef(src *ControlPlane) *ObjectRef {
	kind := src.Kind
	if kind == "" {
		kind = c.flavor.ControlPlaneKind()
	}
	return &ObjectRef{Kind: kind, Namespace: src.Namespace, Name: src.Name}
}

// uninstalledObjects are the objects the uninstall deletes, in order.
func (c *computer) uninstalledObjects(src *ControlPlane) []ObjectRef {
	var objects []ObjectRef
	for _, o := range src.Objects {
		// A tag the plan moves keeps its objects, pointed at the target.
		if o.Tag == "" || !c.movedTags[o.Tag] {
			objects = append(objects, o.ObjectRef)
		}
	}
	return objects
}
