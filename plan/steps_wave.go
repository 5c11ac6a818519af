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
		if out := c.optedOutOf(c.workloads[name]); len(out) > 0 {
			c.optedOutIn[w.Name] = append(c.optedOutIn[w.Name], OptedOut{Namespace: name, Workloads: out})
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
	// The relabels run together, then the restarts together (each group at
	// most max_parallel at once), then the wait, the verify and each gate.
	// Every relabel is done before the first restart, so each new pod is
	// injected by the target.
	groups := [][]Step{relabels, restarts}
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
		SourceLabels: InjectionLabels(ns.Labels)}
	rl.SetLabels, rl.RemoveLabels = c.relabel(ns)
	if c.nsOnTarget(ns) {
		rl.Action, rl.Reason, rl.SourceLabels = ActionNoop, c.onTargetReason(ns), nil
	}
	return rl
}

// relabel is what a wave's relabel changes in a namespace's labels: it sets
// istio.io/rev to the target and removes istio-injection (which would win
// over it); nothing for a namespace whose labels select the target already.
func (c *computer) relabel(ns Namespace) (set map[string]string, remove []string) {
	if c.nsOnTarget(ns) {
		return nil, nil
	}
	if _, inj := ns.Labels[LabelInjection]; inj {
		remove = []string{LabelInjection}
	}
	return map[string]string{LabelRevision: c.cfg.Upgrade.To}, remove
}

// restartSteps restart the sidecar workloads of namespace ns that a restart
// can roll; the others become the wave's manual follow-up.
func (c *computer) restartSteps(w config.WaveConfig, ns string) []Step {
	var out []Step
	for _, wl := range c.workloads[ns] {
		if !hasSidecar(wl) {
			continue
		}
		ref := ObjectRef{Kind: string(wl.Kind), Namespace: ns, Name: wl.Name}
		// Who injects its next pod, as the API server decides it: not
		// restarted when nothing would (opted out: optedOutOf names it), nor when a restart
		// would not bring it to the target.
		injections := c.nextPodInjections(wl)
		if len(injections) == 0 {
			continue
		}
		if c.target != nil && InjectedBy(injections) != c.target.Revision {
			c.add(Check{Code: CodeNextPodNotTarget, Severity: SeverityWarning, Object: &ref,
				Message: fmt.Sprintf("after the wave, its next pod would be injected by %s rather than by %s alone; meshwave does not restart it", describeInjections(injections), c.target.Revision),
				Hint:    "remove the pod template's or the namespace's label that selects the other injector, or the duplicate injector, then plan again"})
			continue
		}
		// What a restart cannot roll is not restarted, waited for or
		// verified, unless the wave opts in to evicting its pods: waiting
		// would only run into the wave's timeout.
		reason, manual := NotRollable(wl.Rollout())
		evict := reason != "" && w.RollOnDelete && RollsByEviction(wl.Rollout())
		if reason != "" && !evict {
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
		if evict {
			st = c.evictStep(w, wl, ref)
		}
		if !c.hasPodOff(wl) {
			st.Action, st.Reason = ActionNoop, "every pod already runs "+c.targetImage()
		}
		out = append(out, st)
	}
	return out
}

// evictStep rolls an OnDelete StatefulSet of a wave that opts in by
// evicting its pods one at a time, highest ordinal first, each waited on
// until its re-created pod is Ready on the target proxy. The pods it waits
// for are injected by the target revision itself, also when the plan names
// a revision tag (as verify's).
func (c *computer) evictStep(w config.WaveConfig, wl Workload, ref ObjectRef) Step {
	to := c.cfg.Upgrade.To
	if c.target != nil {
		to = c.target.Revision
	}
	return Step{ID: "wave/" + w.Name + "/evict/" + wl.Namespace + "/" + strings.ToLower(string(wl.Kind)) + "/" + wl.Name,
		Kind: StepWorkloadEvict, Action: ActionEvict, Wave: w.Name, Object: &ref,
		FromRevision: c.cfg.Upgrade.From, ToRevision: to,
		FromImage: c.sourceImage(), ToImage: c.targetImage(), Pods: len(wl.Pods),
		TimeoutSecond: int64(w.Timeout / time.Second)}
}

// optedOutOf are the workloads whose next pods no injector would inject
// (optedOut): restartSteps leaves them out for the same reason, and the
// plan names them in one line per namespace.
func (c *computer) optedOutOf(wls []Workload) []ObjectRef {
	var out []ObjectRef
	for _, wl := range wls {
		if c.optedOut(wl) {
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
		if st.Action == ActionNoop {
			continue
		}
		changed = true
		// An eviction waits for each of its pods itself: there is no
		// rollout of an OnDelete StatefulSet to wait for.
		if st.Kind == StepWorkloadRestart {
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

// describeInjections names the injectors and the revisions they inject.
func describeInjections(injections []Injection) string {
	parts := make([]string, len(injections))
	for i, in := range injections {
		rev := in.Revision
		if rev == "" {
			rev = "an unknown revision"
		}
		parts[i] = fmt.Sprintf("%s (%s)", in, rev)
	}
	return strings.Join(parts, " and ")
}
