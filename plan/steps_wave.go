package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshwave/meshwave/plan/config"
)

// waveSteps add a wave's phase: for each of its namespaces a relabel and the
// restarts of its workloads, then the wave's wait, verify and gates.
func (c *computer) waveSteps(w config.WaveConfig) {
	// A namespace being deleted is left alone: no pod can be created in it.
	nss := slices.DeleteFunc(c.waveNamespaces(w), func(n string) bool { return c.deleted(w, n) })
	var relabels, restarts []Step
	for _, name := range nss {
		ns, ok := c.namespaces[name]
		if !ok {
			continue
		}
		relabels = append(relabels, c.relabelStep(w, ns))
		restarts = append(restarts, c.restartSteps(w, name)...)
		if out := optedOutOf(c.workloads[name]); len(out) > 0 {
			c.optedOut[w.Name] = append(c.optedOut[w.Name], OptedOut{Namespace: name, Workloads: out})
		}
	}
	wait, verify := c.waveReads(w, nss, relabels, restarts)
	var gates []Step
	for i, g := range w.Gates {
		g := g
		// Gates stay checks even when the wave has nothing left to change:
		// a gate guards the next wave, and an apply resumed after the wave
		// moved must still pass it. The state skips gates passed earlier.
		gates = append(gates, Step{ID: fmt.Sprintf("wave/%s/gate/%d-%s", w.Name, i, g.Kind), Kind: StepGate, Action: ActionRead, Wave: w.Name, Gate: &g})
	}
	// Relabels run one by one, the restarts together (at most max_parallel
	// at once), then the wait, the verify and each gate.
	groups := OneByOne(relabels...)
	groups = append(groups, restarts)
	groups = append(groups, OneByOne(wait, verify)...)
	groups = append(groups, OneByOne(gates...)...)
	c.p.AddPhase(Phase{Kind: PhaseWave, Wave: w.Name, MaxParallel: w.MaxParallel}, groups...)
}

// relabelStep labels ns for the target, or is a no-op saying why its labels
// already select it.
func (c *computer) relabelStep(w config.WaveConfig, ns Namespace) Step {
	rl := Step{ID: "wave/" + w.Name + "/relabel/" + ns.Name, Kind: StepNamespaceRelabel, Action: ActionUpdate, Wave: w.Name,
		Object:       &ObjectRef{Kind: "Namespace", Name: ns.Name},
		FromRevision: c.cfg.Upgrade.From, ToRevision: c.cfg.Upgrade.To,
		SetLabels: map[string]string{LabelRevision: c.cfg.Upgrade.To}, SourceLabels: InjectionLabels(ns.Labels)}
	if _, inj := ns.Labels[LabelInjection]; inj {
		rl.RemoveLabels = []string{LabelInjection}
	}
	if c.nsOnTarget(ns) {
		rl.Action, rl.Reason, rl.SetLabels, rl.RemoveLabels, rl.SourceLabels = ActionNoop, c.onTargetReason(ns), nil, nil, nil
	}
	return rl
}

// restartSteps restart the sidecar workloads of namespace ns that a restart
// can roll; the others become the wave's manual follow-up.
func (c *computer) restartSteps(w config.WaveConfig, ns string) []Step {
	var out []Step
	for _, wl := range c.workloads[ns] {
		if wl.InjectDisabled || !hasSidecar(wl) {
			continue
		}
		ref := ObjectRef{Kind: string(wl.Kind), Namespace: ns, Name: wl.Name}
		// What a restart cannot roll is not restarted, waited for or
		// verified: waiting would only run into the wave's timeout.
		if reason, manual := NotRollable(wl.Rollout()); reason != "" {
			if c.hasPodOff(wl) {
				c.p.ManualFollowUp = append(c.p.ManualFollowUp, FollowUp{Wave: w.Name, Object: ref,
					Pods: c.podsOff(wl), Reason: reason, Manual: manual})
			}
			continue
		}
		// A pinned proxy image stays what it is: a restart would move
		// nothing and verify would fail. A missing injection template is
		// an error the plan reports (MW032).
		if reason, missing := c.proxyPin(wl); reason != "" && missing == nil {
			c.p.ManualFollowUp = append(c.p.ManualFollowUp, FollowUp{Wave: w.Name, Object: ref,
				Pods: c.podsOff(wl), Reason: reason, Manual: pinnedManual(c.targetImage())})
			continue
		}
		st := Step{ID: "wave/" + w.Name + "/restart/" + ns + "/" + strings.ToLower(string(wl.Kind)) + "/" + wl.Name,
			Kind: StepWorkloadRestart, Action: ActionRestart, Wave: w.Name, Object: &ref,
			FromRevision: c.cfg.Upgrade.From, ToRevision: c.cfg.Upgrade.To,
			FromImage: c.sourceImage(), ToImage: c.targetImage(), Pods: len(wl.Pods),
			TimeoutSecond: int64(w.Timeout / time.Second)}
		if !c.hasPodOff(wl) {
			st.Action, st.Reason = ActionNoop, "every pod already runs "+c.targetImage()
		}
		out = append(out, st)
	}
	return out
}

// optedOutOf are the workloads that opt out of injection: restartSteps
// leaves them out, and the plan names them in one line per namespace.
func optedOutOf(wls []Workload) []ObjectRef {
	var out []ObjectRef
	for _, wl := range wls {
		if wl.InjectDisabled {
			out = append(out, ObjectRef{Kind: string(wl.Kind), Namespace: wl.Namespace, Name: wl.Name})
		}
	}
	return out
}

// waveReads are the wave's wait for the rollouts its restarts start and its
// verify of every pod it covers.
func (c *computer) waveReads(w config.WaveConfig, nss []string, relabels, restarts []Step) (wait, verify Step) {
	var all, restarted []ObjectRef
	pods := 0
	changed := false
	for _, st := range relabels {
		changed = changed || st.Action != ActionNoop
	}
	for _, st := range restarts {
		all = append(all, *st.Object)
		pods += st.Pods
		if st.Action != ActionNoop {
			changed = true
			restarted = append(restarted, *st.Object)
		}
	}
	timeout := int64(w.Timeout / time.Second)
	wait = Step{ID: "wave/" + w.Name + "/wait", Kind: StepWaveWait, Action: ActionRead, Wave: w.Name, Namespaces: nss,
		Workloads: restarted, TimeoutSecond: timeout, ToRevision: c.cfg.Upgrade.To}
	// Injected pods carry the revision itself in istio.io/rev, also when the
	// plan names a revision tag: verify against the resolved revision.
	verifyRev := c.cfg.Upgrade.To
	if c.target != nil {
		verifyRev = c.target.Revision
	}
	verify = Step{ID: "wave/" + w.Name + "/verify", Kind: StepWaveVerify, Action: ActionRead, Wave: w.Name, Namespaces: nss,
		Workloads: all, Pods: pods, FromRevision: c.cfg.Upgrade.From, ToRevision: verifyRev,
		FromImage: c.sourceImage(), ToImage: c.targetImage(), TimeoutSecond: timeout}
	if len(restarted) == 0 {
		wait.Action, wait.Reason = ActionNoop, "nothing restarted"
	}
	if !changed {
		verify.Action, verify.Reason = ActionNoop, "wave already on "+c.cfg.Upgrade.To
	}
	return wait, verify
}
