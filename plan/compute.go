package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Compute turns a plan file and a snapshot of the cluster into the checks and
// ordered steps of the upgrade. It is pure: the same inputs give the same plan.
func Compute(cfg *Config, snap *Snapshot) *Plan {
	c := &computer{cfg: cfg, snap: snap, p: &Plan{
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
	c.controlPlaneChecks()
	c.configChecks()
	c.permissionChecks()
	c.tagSteps()
	c.gatewaySteps()
	for _, w := range cfg.Waves {
		c.waveSteps(w)
	}
	c.finalizeSteps()
	c.p.RollbackOrder = RollbackOrder(c.p.Steps, c.p.Phases)
	c.overlapChecks()
	c.summarize()
	return c.p
}

type computer struct {
	cfg  *Config
	snap *Snapshot
	p    *Plan

	source, target *ControlPlane
	// before routes revision labels as the cluster does now; after, once
	// the plan's tags are moved to the target.
	before, after Injectors
	// movedTags are the tags the plan moves.
	movedTags  map[string]bool
	namespaces map[string]Namespace
	workloads  map[string][]Workload // by namespace
	// planned is every namespace some wave moves.
	planned map[string]bool
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
	c.planned = map[string]bool{}
	for _, w := range c.cfg.Waves {
		for _, ns := range c.waveNamespaces(w) {
			c.planned[ns] = true
		}
	}
}

// findControlPlane resolves a revision id, the "default" alias, or an istio
// revision tag to a control plane.
func (c *computer) findControlPlane(rev string) *ControlPlane {
	for i := range c.snap.ControlPlanes {
		cp := &c.snap.ControlPlanes[i]
		if cp.Revision == rev || (rev == DefaultRevision && cp.Default) {
			return cp
		}
	}
	for i := range c.snap.ControlPlanes {
		cp := &c.snap.ControlPlanes[i]
		for _, t := range cp.Tags {
			if t == rev {
				return cp
			}
		}
	}
	return nil
}

// waveNamespaces lists a wave's namespaces: the named ones and those its
// selector matches, minus the excluded ones, sorted.
func (c *computer) waveNamespaces(w WaveConfig) []string {
	set := map[string]bool{}
	for _, n := range w.Namespaces {
		set[n] = true
	}
	if w.Selector != "" {
		if sel, err := labels.Parse(w.Selector); err == nil {
			for _, ns := range c.snap.Namespaces {
				if sel.Matches(labels.Set(ns.Labels)) {
					set[ns.Name] = true
				}
			}
		}
	}
	for _, n := range w.Exclude {
		delete(set, n)
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// onTarget reports whether a pod already runs the target proxy, injected
// by the target revision.
func (c *computer) onTarget(p Pod) bool {
	return c.target != nil && p.ProxyImage == c.target.ProxyImage &&
		(PodUses(p, *c.target) || p.Revision == c.cfg.Upgrade.To)
}

// onSource reports whether a pod runs the source proxy, injected by the
// source revision.
func (c *computer) onSource(p Pod) bool {
	return c.source != nil && p.ProxyImage == c.source.ProxyImage && PodUses(p, *c.source) && !c.onTarget(p)
}

// nsOnTarget reports whether a namespace's labels select the target once
// the plan's tags are moved: labeled with the target revision, or with a tag
// (or istio-injection=enabled and the default tag) that points or moves
// there, so only its workloads need a restart.
func (c *computer) nsOnTarget(ns Namespace) bool {
	if c.target == nil {
		_, inj := ns.Labels[LabelInjection]
		return !inj && ns.Labels[LabelRevision] == c.cfg.Upgrade.To
	}
	return c.after.NamespaceRevision(ns.Labels) == c.target.Revision
}

// nsOnSource reports whether a namespace is labeled for the source control
// plane's injection.
func (c *computer) nsOnSource(ns Namespace) bool {
	if c.source == nil {
		if v, ok := ns.Labels[LabelInjection]; ok {
			return v == "enabled" && c.cfg.Upgrade.From == DefaultRevision
		}
		return ns.Labels[LabelRevision] == c.cfg.Upgrade.From
	}
	return c.before.NamespaceRevision(ns.Labels) == c.source.Revision
}

// onTargetReason says why a namespace needs no relabel.
func (c *computer) onTargetReason(ns Namespace) string {
	if v, ok := ns.Labels[LabelInjection]; ok {
		if c.movedTags[DefaultRevision] {
			return fmt.Sprintf("namespace is labeled %s=%s and follows the default tag, which the plan moves to %s", LabelInjection, v, c.target.Revision)
		}
		return fmt.Sprintf("namespace is labeled %s=%s, which %s serves", LabelInjection, v, c.target.Revision)
	}
	rev := ns.Labels[LabelRevision]
	if c.movedTags[rev] {
		return fmt.Sprintf("namespace follows revision tag %s, which the plan moves to %s", rev, c.target.Revision)
	}
	return "namespace already labeled istio.io/rev=" + rev
}

func (c *computer) controlPlaneChecks() {
	up := c.cfg.Upgrade
	switch {
	case c.target == nil:
		c.add(Check{Code: CodeTargetMissing, Severity: SeverityError,
			Message: fmt.Sprintf("target control plane %q is not installed", up.To),
			Hint:    targetInstallHint(up)})
	case !c.target.Ready():
		c.add(Check{Code: CodeTargetNotReady, Severity: SeverityError,
			Object:  &ObjectRef{Kind: "Deployment", Namespace: c.target.Namespace, Name: c.istiodName(c.target)},
			Message: fmt.Sprintf("target control plane %q has %d istiod pod(s), %d Ready", up.To, len(c.target.Istiod), readyCount(c.target.Istiod)),
			Hint:    "wait until the new istiod is Ready (kubectl get po -n " + c.target.Namespace + "), or fix the control plane before moving workloads to it"})
	}
	if c.source == nil && c.somethingLeftToMove() {
		c.add(Check{Code: CodeSourceMissing, Severity: SeverityError,
			Message: fmt.Sprintf("source control plane %q is not installed, but the plan still has namespaces to move from it", up.From),
			Hint:    "check upgrade.from against `kubectl get po -A -L istio.io/rev`"})
	}
	c.backyardsVersionCheck()
	if c.target != nil {
		c.targetVersionChecks()
	}
}

// backyardsVersionCheck finds a Backyards release that does not ship the
// target's Istio minor.
func (c *computer) backyardsVersionCheck() {
	if c.cfg.Upgrade.Flavor == FlavorBackyards && c.snap.BackyardsVersion != "" && c.target != nil {
		by := minor(c.snap.BackyardsVersion)
		want, known := backyardsIstio[by]
		if !known {
			c.add(Check{Code: CodeBackyardsVersion, Severity: SeverityWarning,
				Message: fmt.Sprintf("Backyards %s is not in meshwave's version table (1.3→Istio 1.6, 1.4→1.7, 1.5→1.8)", c.snap.BackyardsVersion),
				Hint:    "make sure the Backyards release supports Istio " + c.target.Version})
		} else if minor(c.target.Version) != want {
			c.add(Check{Code: CodeBackyardsVersion, Severity: SeverityError,
				Object:  &ObjectRef{Kind: "Istio", Namespace: c.target.Namespace, Name: c.target.Name},
				Message: fmt.Sprintf("Backyards %s supports Istio %s, but the target control plane runs Istio %s", c.snap.BackyardsVersion, want, c.target.Version),
				Hint:    fmt.Sprintf("upgrade Backyards to the release that supports Istio %s first (backyards install -a), or target an Istio %s control plane", minor(c.target.Version), want)})
		}
	}
}

// targetVersionChecks find what breaks on the target's Istio version: old
// Lua EnvoyFilters and privileged gateway ports from 1.7, headless services
// on 1.7.0.
func (c *computer) targetVersionChecks() {
	tv := c.target.Version
	if versionAtLeast(tv, 1, 7) {
		for _, f := range c.snap.EnvoyFilters {
			if f.UsesLua && f.OldLuaSyntax && !f.ProxyVersionMatch {
				c.add(Check{Code: CodeEnvoyFilterLua, Severity: SeverityError,
					Object:  &ObjectRef{Kind: "EnvoyFilter", Namespace: f.Namespace, Name: f.Name},
					Message: fmt.Sprintf("EnvoyFilter uses the pre-1.7 Lua filter syntax without a proxy version match: istio-proxy containers on Istio %s won't start", tv),
					Hint:    "rewrite the Lua patch with typed_config (type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua), or limit it with match.proxy.proxyVersion: '^1\\.6.*'"})
			}
		}
		for _, g := range c.snap.Gateways {
			c.privilegedPortCheck(g)
		}
	}
	if tv == "1.7.0" {
		for _, s := range c.snap.HeadlessServices {
			if !c.planned[s.Namespace] {
				continue
			}
			ref := s
			c.add(Check{Code: CodeHeadlessService, Severity: SeverityWarning, Object: &ref,
				Message: "headless Service: Istio 1.7.0 does not update its endpoints in istiod when it scales (istio/istio#26617)",
				Hint:    "restart istiod after scaling this service, or target Istio 1.7.1 or later"})
		}
	}
}

// privilegedPortCheck finds a gateway that would run as non-root on the
// target with a port below 1024, which it cannot bind from Istio 1.7 on.
func (c *computer) privilegedPortCheck(g MeshGateway) {
	if !c.gatewayWillRunOnTarget(g) || (g.RunAsRoot != nil && *g.RunAsRoot) {
		return
	}
	for _, port := range g.Ports {
		tp := port.TargetPort
		if tp == 0 {
			tp = port.Port
		}
		if tp < 1024 {
			c.add(Check{Code: CodeGatewayPrivilegedPort, Severity: SeverityError,
				Object:  &ObjectRef{Kind: "MeshGateway", Namespace: g.Namespace, Name: g.Name},
				Message: fmt.Sprintf("gateway runs as non-root (spec.runAsRoot %s) and port %q uses %d, below 1024: the gateway pod won't start on Istio %s", runAsRootText(g.RunAsRoot), port.Name, tp, c.target.Version),
				Hint:    "set spec.runAsRoot: true, or give the port a targetPort above 1024"})
			return
		}
	}
}

// gatewayWillRunOnTarget reports whether a gateway runs on the target
// control plane after the plan: already there, or moved by it.
func (c *computer) gatewayWillRunOnTarget(g MeshGateway) bool {
	if c.target != nil && g.ControlPlane == c.target.Revision {
		return true
	}
	for _, gc := range c.cfg.Gateways {
		if gc.Name == g.Name && gc.Namespace == g.Namespace {
			return true
		}
	}
	return false
}

func (c *computer) configChecks() {
	for _, gc := range c.cfg.Gateways {
		if c.findGateway(gc) == nil {
			c.add(Check{Code: CodeGatewayMissing, Severity: SeverityError,
				Object:  &ObjectRef{Kind: gatewayKind(c.cfg.Upgrade.Flavor), Namespace: gc.Namespace, Name: gc.Name},
				Message: "gateway not found",
				Hint:    "check the gateway block's name and namespace (kubectl get meshgateways -A)"})
		}
	}
	for _, w := range c.cfg.Waves {
		nss := c.waveNamespaces(w)
		if len(nss) == 0 {
			c.add(Check{Code: CodeWaveEmpty, Severity: SeverityWarning,
				Message: fmt.Sprintf("wave %q selects no namespace", w.Name),
				Hint:    "check the wave's namespaces, selector and exclude"})
		}
		for _, name := range nss {
			ns, ok := c.namespaces[name]
			ref := &ObjectRef{Kind: "Namespace", Name: name}
			if !ok {
				c.add(Check{Code: CodeNamespaceMissing, Severity: SeverityError, Object: ref,
					Message: fmt.Sprintf("namespace of wave %q does not exist", w.Name),
					Hint:    "remove it from the wave or create it"})
				continue
			}
			_, inj := ns.Labels[LabelInjection]
			_, rev := ns.Labels[LabelRevision]
			if inj && rev {
				c.add(Check{Code: CodeConflictingLabels, Severity: SeverityWarning, Object: ref,
					Message: fmt.Sprintf("namespace has both istio-injection=%s and istio.io/rev=%s; Istio honours istio-injection", ns.Labels[LabelInjection], ns.Labels[LabelRevision]),
					Hint:    "meshwave removes istio-injection when it relabels; check which control plane injects today"})
			}
			if !c.nsOnTarget(ns) && !c.nsOnSource(ns) {
				c.add(Check{Code: CodeNamespaceNotInjected, Severity: SeverityError, Object: ref,
					Message: fmt.Sprintf("namespace is not labeled for injection by %q (istio-injection=%q, istio.io/rev=%q)", c.cfg.Upgrade.From, ns.Labels[LabelInjection], ns.Labels[LabelRevision]),
					Hint:    sourceLabelHint(c.cfg.Upgrade.From, c.source, name)})
			}
			for _, wl := range c.workloads[name] {
				if !wl.InjectDisabled {
					c.workloadChecks(wl)
				}
			}
		}
	}
}

// workloadChecks find a workload a restart cannot roll and pods on neither
// the source nor the target proxy.
func (c *computer) workloadChecks(wl Workload) {
	wref := &ObjectRef{Kind: string(wl.Kind), Namespace: wl.Namespace, Name: wl.Name}
	if reason, manual := NotRollable(wl.Rollout()); reason != "" && c.hasPodOff(wl) {
		c.add(Check{Code: CodeNotRollable, Severity: SeverityWarning, Object: wref,
			Message: "cannot be restarted by meshwave: " + reason,
			Hint:    "apply leaves it to you: " + manual})
	}
	for _, p := range wl.Pods {
		if p.ProxyImage == "" {
			c.add(Check{Code: CodeProxyUnexpected, Severity: SeverityWarning, Object: &ObjectRef{Kind: "Pod", Namespace: wl.Namespace, Name: p.Name},
				Message: "pod has no istio-proxy sidecar; meshwave does not restart it (a restart would inject one)",
				Hint:    "label the pod template sidecar.istio.io/inject=false to opt out explicitly, or restart it yourself after the wave"})
		} else if !c.onSource(p) && !c.onTarget(p) {
			c.add(Check{Code: CodeProxyUnexpected, Severity: SeverityWarning, Object: &ObjectRef{Kind: "Pod", Namespace: wl.Namespace, Name: p.Name},
				Message: fmt.Sprintf("pod runs proxy %s (revision %q), neither the source nor the target proxy", p.ProxyImage, p.Revision),
				Hint:    "check which control plane injected it before moving the namespace"})
		}
	}
}

// hasPodOff reports whether a workload has a sidecar pod not on the target.
func (c *computer) hasPodOff(w Workload) bool { return c.podsOff(w) > 0 }

// podsOff counts a workload's sidecar pods not on the target.
func (c *computer) podsOff(w Workload) int {
	n := 0
	for _, p := range w.Pods {
		if p.ProxyImage != "" && !c.onTarget(p) {
			n++
		}
	}
	return n
}

func (c *computer) permissionChecks() {
	for _, perm := range c.snap.Permissions {
		if perm.Allowed {
			continue
		}
		res := perm.Resource
		if perm.Group != "" {
			res += "." + perm.Group
		}
		where := "cluster-wide"
		if perm.Namespace != "" {
			where = "in namespace " + perm.Namespace
		}
		c.add(Check{Code: CodeForbidden, Severity: SeverityError,
			Message: fmt.Sprintf("you may not %s %s %s; apply needs it", perm.Verb, res, where),
			Hint:    fmt.Sprintf("grant the verb %q on %q to your user (kubectl auth can-i %s %s)", perm.Verb, res, perm.Verb, res)})
	}
}

func (c *computer) findGateway(gc GatewayConfig) *MeshGateway {
	for i := range c.snap.Gateways {
		g := &c.snap.Gateways[i]
		if g.Name == gc.Name && g.Namespace == gc.Namespace {
			return g
		}
	}
	return nil
}

func (c *computer) targetImage() string {
	if c.target == nil {
		return ""
	}
	return c.target.ProxyImage
}

func (c *computer) sourceImage() string {
	if c.source == nil {
		return ""
	}
	return c.source.ProxyImage
}

func (c *computer) gatewaySteps() {
	var steps []Step
	for _, gc := range c.cfg.Gateways {
		g := c.findGateway(gc)
		ref := &ObjectRef{Kind: gatewayKind(c.cfg.Upgrade.Flavor), Namespace: gc.Namespace, Name: gc.Name}
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

func allOnTarget(c *computer, pods []Pod) bool {
	for _, p := range pods {
		if !c.onTarget(p) {
			return false
		}
	}
	return true
}

func (c *computer) waveSteps(w WaveConfig) {
	nss := c.waveNamespaces(w)
	var relabels, restarts []Step
	for _, name := range nss {
		ns, ok := c.namespaces[name]
		if !ok {
			continue
		}
		relabels = append(relabels, c.relabelStep(w, ns))
		restarts = append(restarts, c.restartSteps(w, name)...)
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
func (c *computer) relabelStep(w WaveConfig, ns Namespace) Step {
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
func (c *computer) restartSteps(w WaveConfig, ns string) []Step {
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

// waveReads are the wave's wait for the rollouts its restarts start and its
// verify of every pod it covers.
func (c *computer) waveReads(w WaveConfig, nss []string, relabels, restarts []Step) (wait, verify Step) {
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

func hasSidecar(w Workload) bool {
	for _, p := range w.Pods {
		if p.ProxyImage != "" {
			return true
		}
	}
	return false
}

// somethingLeftToMove reports whether some planned namespace or pod is not on
// the target yet.
func (c *computer) somethingLeftToMove() bool {
	for name := range c.planned {
		if ns, ok := c.namespaces[name]; ok && !c.nsOnTarget(ns) {
			return true
		}
		for _, wl := range c.workloads[name] {
			if !wl.InjectDisabled && c.hasPodOff(wl) {
				return true
			}
		}
	}
	return false
}

// finalize adds the finalize phase: the uninstall step.
func (c *computer) finalize(st Step) { c.p.AddPhase(Phase{Kind: PhaseFinalize}, []Step{st}) }

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
						Object:       &ObjectRef{Kind: controlPlaneKind(c.cfg.Upgrade.Flavor), Namespace: wl.Namespace},
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
	kind := src.Kind
	if kind == "" {
		kind = controlPlaneKind(c.cfg.Upgrade.Flavor)
	}
	ref := &ObjectRef{Kind: kind, Namespace: src.Namespace, Name: src.Name}
	var objects []ObjectRef
	for _, o := range src.Objects {
		// A tag the plan moves keeps its objects, pointed at the target.
		if o.Tag == "" || !c.movedTags[o.Tag] {
			objects = append(objects, o.ObjectRef)
		}
	}
	c.finalize(Step{ID: id, Kind: StepUninstall, Action: ActionDelete,
		Object: ref, Objects: objects, FromRevision: src.Revision, FromImage: src.ProxyImage})
	move := Move{Namespaces: c.planned, Gateways: map[string]bool{}, Tags: c.movedTags}
	for _, g := range c.cfg.Gateways {
		move.Gateways[g.Namespace+"/"+g.Name] = true
	}
	if users := RevisionUsers(c.snap, *src, move); len(users) > 0 {
		hint := "add them to a wave, gateway or tag block, or set finalize { uninstall_old = false }"
		if len(src.Tags) > 0 && c.cfg.Upgrade.Flavor == FlavorIstio {
			hint += fmt.Sprintf("; a tag block moves a tag as a step (or by hand: istioctl tag set TAG --revision %s --overwrite)", c.cfg.Upgrade.To)
		}
		c.add(Check{Code: CodeOldStillUsed, Severity: SeverityError, Object: ref,
			Message: fmt.Sprintf("the old control plane would still be used after the plan by: %s", strings.Join(users, ", ")),
			Hint:    hint})
	}
	c.danglingWebhookChecks(src, objects)
	if src.HelmRelease != "" {
		c.add(Check{Code: CodeHelmInstalled, Severity: SeverityWarning, Object: ref,
			Message: fmt.Sprintf("revision %s was installed by the Helm release %s; meshwave deletes its objects, and Helm still records the release", src.Revision, src.HelmRelease),
			Hint:    fmt.Sprintf("uninstall the release instead (helm uninstall %s -n %s) and set finalize { uninstall_old = false }, or remove Helm's record afterwards", helmName(src.HelmRelease), helmNamespace(src.HelmRelease))})
	}
}

// danglingWebhookChecks finds the webhooks that would still call the old
// control plane once the uninstall has deleted its objects: an admission
// webhook whose server is gone fails or silently skips every request it
// matches (istio/istio#28880, #43227).
func (c *computer) danglingWebhookChecks(src *ControlPlane, deleted []ObjectRef) {
	gone := map[ObjectRef]bool{}
	for _, o := range deleted {
		gone[ObjectRef{Kind: o.Kind, Name: o.Name}] = true
	}
	// Where only the old control plane listens: an endpoint another
	// revision serves too (one server for several) stays up.
	endpoints := map[string]bool{}
	for _, e := range src.Endpoints {
		endpoints[e] = true
	}
	for _, cp := range c.snap.ControlPlanes {
		if cp.Revision != src.Revision {
			for _, e := range cp.Endpoints {
				delete(endpoints, e)
			}
		}
	}
	for _, w := range c.snap.Webhooks {
		// The revision's own webhooks go with it (the installer's, or the
		// uninstall's objects); its tags are MW015's.
		if gone[w.Ref()] || w.Revision == src.Revision || (w.Tag != "" && c.movedTags[w.Tag]) {
			continue
		}
		calls := false
		for _, e := range w.Endpoints {
			calls = calls || endpoints[e]
		}
		if !calls {
			continue
		}
		ref := w.Ref()
		hint := fmt.Sprintf("point it at %s or delete it before the uninstall", c.cfg.Upgrade.To)
		if w.Tag != "" {
			hint = fmt.Sprintf("add tag %q {} to the plan, so it moves to %s first", w.Tag, c.cfg.Upgrade.To)
		}
		c.add(Check{Code: CodeWebhookDangling, Severity: SeverityError, Object: &ref,
			Message: fmt.Sprintf("%s %s would still call control plane %s after the uninstall removes it", w.Kind, w.Name, src.Revision),
			Hint:    hint})
	}
}

// overlapChecks finds the namespaces a wave moves where, once relabeled,
// more than one injection webhook would inject a new pod.
func (c *computer) overlapChecks() {
	after := map[string]map[string]string{}
	for _, st := range c.p.Steps {
		if st.Kind != StepNamespaceRelabel || st.Action == ActionNoop {
			continue
		}
		ls := map[string]string{}
		for k, v := range c.namespaces[st.Object.Name].Labels {
			ls[k] = v
		}
		for _, k := range st.RemoveLabels {
			delete(ls, k)
		}
		for k, v := range st.SetLabels {
			ls[k] = v
		}
		after[st.Object.Name] = ls
	}
	for _, ns := range c.snap.Namespaces {
		if !c.planned[ns.Name] {
			continue
		}
		ls, relabeled := after[ns.Name]
		if !relabeled {
			ls = ns.Labels
		}
		if hooks := Injecting(c.snap.Webhooks, ls); len(hooks) > 1 {
			c.add(Check{Code: CodeInjectorOverlap, Severity: SeverityWarning, Object: &ObjectRef{Kind: "Namespace", Name: ns.Name},
				Message: fmt.Sprintf("after the wave, %d injection webhooks would inject new pods of this namespace: %s; which revision injects a pod is then undefined", len(hooks), strings.Join(hooks, ", ")),
				Hint:    "remove the duplicate injector, or the label that selects it (istioctl analyze reports this as IST0139)"})
		}
	}
}

// tagSteps move the plan's revision tags to the target, before anything
// else: the namespaces labeled with a tag then follow it as their workloads
// restart in the waves.
func (c *computer) tagSteps() {
	var steps []Step
	for _, tc := range c.cfg.Tags {
		ref := &ObjectRef{Kind: "MutatingWebhookConfiguration", Name: TagWebhookName(tc.Name)}
		st := Step{ID: "tag/" + tc.Name, Kind: StepTagMove, Action: ActionUpdate, Object: ref,
			FromImage: c.sourceImage(), ToImage: c.targetImage()}
		if c.target != nil {
			st.ToRevision = c.target.Revision
		}
		cur, found := c.before.Tags[tc.Name]
		switch {
		case !found:
			c.add(Check{Code: CodeTagMissing, Severity: SeverityError, Object: ref,
				Message: fmt.Sprintf("revision tag %q does not exist", tc.Name),
				Hint:    fmt.Sprintf("create it on the source first (istioctl tag set %s --revision %s), or remove the tag block", tc.Name, c.cfg.Upgrade.From)})
		case c.target != nil && cur == c.target.Revision:
			st.Action, st.Reason = ActionNoop, "tag already points at "+cur
		}
		st.FromRevision = cur
		steps = append(steps, st)
	}
	c.p.AddPhase(Phase{Kind: PhaseTags}, OneByOne(steps...)...)
}

func helmName(release string) string {
	_, name, _ := strings.Cut(release, "/")
	return name
}

func helmNamespace(release string) string {
	ns, _, _ := strings.Cut(release, "/")
	return ns
}

// istiodName is the name of a control plane's istiod Deployment.
func (c *computer) istiodName(cp *ControlPlane) string {
	if name, _, ok := ParseBackyardsRevision(cp.Revision); ok && c.cfg.Upgrade.Flavor == FlavorBackyards {
		return "istiod-" + name
	}
	return IstiodName(cp.Revision)
}

func (c *computer) summarize() {
	s := &c.p.Summary
	waves := map[string]*WaveSummary{}
	for _, w := range c.cfg.Waves {
		s.Waves = append(s.Waves, WaveSummary{Name: w.Name, FromImage: c.sourceImage(), ToImage: c.targetImage()})
	}
	for i := range s.Waves {
		waves[s.Waves[i].Name] = &s.Waves[i]
	}
	for _, st := range c.p.Steps {
		ws := waves[st.Wave]
		switch st.Kind {
		case StepNamespaceRelabel:
			if ws != nil {
				ws.Namespaces++
			}
		case StepWorkloadRestart:
			if ws != nil {
				ws.Workloads++
				ws.Pods += st.Pods
			}
		}
		if st.Action == ActionNoop || st.Action == ActionRead {
			continue
		}
		s.Changes++
		switch st.Kind {
		case StepNamespaceRelabel:
			s.Relabel++
		case StepWorkloadRestart:
			s.Restart++
		case StepGatewayMigrate:
			s.Gateways++
		case StepTagMove:
			s.Tags++
		case StepUninstall:
			s.Uninstall++
		}
	}
	if s.Waves == nil {
		s.Waves = []WaveSummary{}
	}
	for _, ch := range c.p.Checks {
		if ch.Severity == SeverityError {
			s.Errors++
		} else {
			s.Warnings++
		}
	}
}

func readyCount(pods []Pod) int {
	n := 0
	for _, p := range pods {
		if p.Ready {
			n++
		}
	}
	return n
}

func runAsRootText(b *bool) string {
	if b == nil {
		return "omitted"
	}
	return fmt.Sprintf("%t", *b)
}

func gatewayKind(f Flavor) string {
	if f == FlavorIstio {
		return "Deployment"
	}
	return "MeshGateway"
}

func controlPlaneKind(f Flavor) string {
	if f == FlavorIstio {
		return "IstioOperator"
	}
	return "Istio"
}

func targetInstallHint(up Upgrade) string {
	if up.Flavor == FlavorIstio {
		return fmt.Sprintf("install it next to the old one: istioctl install --set revision=%s", up.To)
	}
	return "install it next to the old one (backyards install -a, or apply its Istio custom resource) and wait for its istiod"
}

func sourceLabelHint(from string, src *ControlPlane, ns string) string {
	if from == DefaultRevision || (src != nil && src.Default) {
		return fmt.Sprintf("kubectl label ns %s istio-injection=enabled, or remove it from the wave", ns)
	}
	return fmt.Sprintf("kubectl label ns %s istio.io/rev=%s, or remove it from the wave", ns, from)
}

// backyardsIstio maps a Backyards minor release to the Istio minor it ships.
var backyardsIstio = map[string]string{"1.3": "1.6", "1.4": "1.7", "1.5": "1.8"}

// minor returns "X.Y" of a version like "v1.7.0" or "1.7.0-bzc".
func minor(v string) string {
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// versionAtLeast reports whether v ("1.7.0") is at least major.minor.
func versionAtLeast(v string, major, min int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || (ma == major && mi >= min)
}
