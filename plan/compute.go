package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Label keys Istio uses to select the injecting control plane.
const (
	LabelInjection = "istio-injection"
	LabelRevision  = "istio.io/rev"
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
		ManualFollowUp:    []FollowUp{},
	}}
	c.index()
	c.controlPlaneChecks()
	c.configChecks()
	c.permissionChecks()
	c.gatewaySteps()
	for _, w := range cfg.Waves {
		c.waveSteps(w)
	}
	c.finalizeSteps()
	c.summarize()
	return c.p
}

type computer struct {
	cfg  *Config
	snap *Snapshot
	p    *Plan

	source, target *ControlPlane
	namespaces     map[string]Namespace
	workloads      map[string][]Workload // by namespace
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

// onTarget reports whether a pod already runs the target proxy.
func (c *computer) onTarget(p Pod) bool {
	return c.target != nil && p.ProxyImage != "" && p.ProxyImage == c.target.ProxyImage &&
		(p.Revision == c.target.Revision || p.Revision == c.cfg.Upgrade.To)
}

// onSource reports whether a pod runs the source proxy.
func (c *computer) onSource(p Pod) bool {
	return c.source != nil && p.ProxyImage != "" && p.ProxyImage == c.source.ProxyImage && !c.onTarget(p)
}

// nsOnTarget reports whether a namespace is already labeled for the target.
func (c *computer) nsOnTarget(ns Namespace) bool {
	if _, inj := ns.Labels[LabelInjection]; inj {
		return false
	}
	rev := ns.Labels[LabelRevision]
	if rev == c.cfg.Upgrade.To {
		return true
	}
	if c.target == nil {
		return false
	}
	// A namespace labeled with a revision tag follows the tag: once the tag
	// points at the target, only its workloads need a restart.
	return rev == c.target.Revision || slices.Contains(c.target.Tags, rev)
}

// nsOnSource reports whether a namespace is labeled for the source control
// plane's injection.
func (c *computer) nsOnSource(ns Namespace) bool {
	if v, ok := ns.Labels[LabelInjection]; ok {
		return v == "enabled" && (c.cfg.Upgrade.From == DefaultRevision || (c.source != nil && c.source.Default))
	}
	rev := ns.Labels[LabelRevision]
	if rev == c.cfg.Upgrade.From {
		return true
	}
	if c.source == nil {
		return false
	}
	if rev == c.source.Revision {
		return true
	}
	for _, t := range c.source.Tags {
		if rev == t {
			return true
		}
	}
	return false
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
			Object:  &ObjectRef{Kind: "Deployment", Namespace: c.target.Namespace, Name: "istiod-" + strings.SplitN(c.target.Revision, ".", 2)[0]},
			Message: fmt.Sprintf("target control plane %q has %d istiod pod(s), %d Ready", up.To, len(c.target.Istiod), readyCount(c.target.Istiod)),
			Hint:    "wait until the new istiod is Ready (kubectl get po -n " + c.target.Namespace + "), or fix the control plane before moving workloads to it"})
	}
	if c.source == nil && c.somethingLeftToMove() {
		c.add(Check{Code: CodeSourceMissing, Severity: SeverityError,
			Message: fmt.Sprintf("source control plane %q is not installed, but the plan still has namespaces to move from it", up.From),
			Hint:    "check upgrade.from against `kubectl get po -A -L istio.io/rev`"})
	}
	if up.Flavor == FlavorBackyards && c.snap.BackyardsVersion != "" && c.target != nil {
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
	if c.target == nil {
		return
	}
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
			if !c.gatewayWillRunOnTarget(g) || (g.RunAsRoot != nil && *g.RunAsRoot) {
				continue
			}
			for _, port := range g.Ports {
				tp := port.TargetPort
				if tp == 0 {
					tp = port.Port
				}
				if tp < 1024 {
					c.add(Check{Code: CodeGatewayPrivilegedPort, Severity: SeverityError,
						Object:  &ObjectRef{Kind: "MeshGateway", Namespace: g.Namespace, Name: g.Name},
						Message: fmt.Sprintf("gateway runs as non-root (spec.runAsRoot %s) and port %q uses %d, below 1024: the gateway pod won't start on Istio %s", runAsRootText(g.RunAsRoot), port.Name, tp, tv),
						Hint:    "set spec.runAsRoot: true, or give the port a targetPort above 1024"})
					break
				}
			}
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
				if wl.InjectDisabled {
					continue
				}
				wref := &ObjectRef{Kind: string(wl.Kind), Namespace: wl.Namespace, Name: wl.Name}
				if reason, manual := NotRollable(wl.Rollout()); reason != "" && c.hasPodOff(wl) {
					c.add(Check{Code: CodeNotRollable, Severity: SeverityWarning, Object: wref,
						Message: "cannot be restarted by meshwave: " + reason,
						Hint:    "apply leaves it to you: " + manual})
				}
				for _, p := range wl.Pods {
					if p.ProxyImage == "" {
						c.add(Check{Code: CodeProxyUnexpected, Severity: SeverityWarning, Object: &ObjectRef{Kind: "Pod", Namespace: name, Name: p.Name},
							Message: "pod has no istio-proxy sidecar; meshwave does not restart it (a restart would inject one)",
							Hint:    "label the pod template sidecar.istio.io/inject=false to opt out explicitly, or restart it yourself after the wave"})
					} else if !c.onSource(p) && !c.onTarget(p) {
						c.add(Check{Code: CodeProxyUnexpected, Severity: SeverityWarning, Object: &ObjectRef{Kind: "Pod", Namespace: name, Name: p.Name},
							Message: fmt.Sprintf("pod runs proxy %s (revision %q), neither the source nor the target proxy", p.ProxyImage, p.Revision),
							Hint:    "check which control plane injected it before moving the namespace"})
					}
				}
			}
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
		c.p.Steps = append(c.p.Steps, st)
	}
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
	prefix := "wave/" + w.Name + "/"
	nss := c.waveNamespaces(w)
	changed := false
	var restarted []ObjectRef
	pods := 0
	var relabels, restarts []Step
	for _, name := range nss {
		ns, ok := c.namespaces[name]
		if !ok {
			continue
		}
		rl := Step{ID: prefix + "relabel/" + name, Kind: StepNamespaceRelabel, Action: ActionUpdate, Wave: w.Name,
			Object:       &ObjectRef{Kind: "Namespace", Name: name},
			FromRevision: c.cfg.Upgrade.From, ToRevision: c.cfg.Upgrade.To,
			SetLabels: map[string]string{LabelRevision: c.cfg.Upgrade.To}}
		if _, inj := ns.Labels[LabelInjection]; inj {
			rl.RemoveLabels = []string{LabelInjection}
		}
		if c.nsOnTarget(ns) {
			rl.Action, rl.Reason, rl.SetLabels, rl.RemoveLabels = ActionNoop, "namespace already labeled istio.io/rev="+ns.Labels[LabelRevision], nil, nil
		} else {
			changed = true
		}
		relabels = append(relabels, rl)
		for _, wl := range c.workloads[name] {
			if wl.InjectDisabled || !hasSidecar(wl) {
				continue
			}
			ref := ObjectRef{Kind: string(wl.Kind), Namespace: name, Name: wl.Name}
			// What a restart cannot roll is not restarted, waited for or
			// verified: waiting would only run into the wave's timeout.
			if reason, manual := NotRollable(wl.Rollout()); reason != "" {
				if c.hasPodOff(wl) {
					c.p.ManualFollowUp = append(c.p.ManualFollowUp, FollowUp{Wave: w.Name, Object: ref,
						Pods: c.podsOff(wl), Reason: reason, Manual: manual})
				}
				continue
			}
			st := Step{ID: prefix + "restart/" + name + "/" + strings.ToLower(string(wl.Kind)) + "/" + wl.Name,
				Kind: StepWorkloadRestart, Action: ActionRestart, Wave: w.Name, Object: &ref,
				FromRevision: c.cfg.Upgrade.From, ToRevision: c.cfg.Upgrade.To,
				FromImage: c.sourceImage(), ToImage: c.targetImage(), Pods: len(wl.Pods), MaxParallel: w.MaxParallel,
				TimeoutSecond: int64(w.Timeout / time.Second)}
			switch {
			case !c.hasPodOff(wl):
				st.Action, st.Reason = ActionNoop, "every pod already runs "+c.targetImage()
			default:
				changed = true
				restarted = append(restarted, ref)
			}
			pods += len(wl.Pods)
			restarts = append(restarts, st)
		}
	}
	c.p.Steps = append(c.p.Steps, relabels...)
	c.p.Steps = append(c.p.Steps, restarts...)
	var all []ObjectRef
	for _, st := range restarts {
		all = append(all, *st.Object)
	}
	wait := Step{ID: prefix + "wait", Kind: StepWaveWait, Action: ActionCheck, Wave: w.Name, Namespaces: nss,
		Workloads: restarted, TimeoutSecond: int64(w.Timeout / time.Second), ToRevision: c.cfg.Upgrade.To}
	// Injected pods carry the revision itself in istio.io/rev, also when the
	// plan names a revision tag: verify against the resolved revision.
	verifyRev := c.cfg.Upgrade.To
	if c.target != nil {
		verifyRev = c.target.Revision
	}
	verify := Step{ID: prefix + "verify", Kind: StepWaveVerify, Action: ActionCheck, Wave: w.Name, Namespaces: nss,
		Workloads: all, Pods: pods, FromRevision: c.cfg.Upgrade.From, ToRevision: verifyRev,
		FromImage: c.sourceImage(), ToImage: c.targetImage(), TimeoutSecond: int64(w.Timeout / time.Second)}
	if len(restarted) == 0 {
		wait.Action, wait.Reason = ActionNoop, "nothing restarted"
	}
	if !changed {
		verify.Action, verify.Reason = ActionNoop, "wave already on "+c.cfg.Upgrade.To
	}
	c.p.Steps = append(c.p.Steps, wait, verify)
	for i, g := range w.Gates {
		g := g
		// Gates stay checks even when the wave has nothing left to change:
		// a gate guards the next wave, and an apply resumed after the wave
		// moved must still pass it. The state skips gates passed earlier.
		c.p.Steps = append(c.p.Steps, Step{ID: fmt.Sprintf("%sgate/%d-%s", prefix, i, g.Kind), Kind: StepGate, Action: ActionCheck, Wave: w.Name, Gate: &g})
	}
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
					c.p.Steps = append(c.p.Steps, Step{ID: id, Kind: StepUninstall, Action: ActionDelete,
						Object:       &ObjectRef{Kind: controlPlaneKind(c.cfg.Upgrade.Flavor), Namespace: wl.Namespace},
						FromRevision: c.cfg.Upgrade.From, Reason: "the control plane's resource is deleted; its istiod is still running"})
					return
				}
			}
		}
		c.p.Steps = append(c.p.Steps, Step{ID: id, Kind: StepUninstall, Action: ActionNoop, FromRevision: c.cfg.Upgrade.From,
			Reason: c.cfg.Upgrade.From + " is not installed any more"})
		return
	}
	src := c.source
	ref := &ObjectRef{Kind: controlPlaneKind(c.cfg.Upgrade.Flavor), Namespace: src.Namespace, Name: src.Name}
	c.p.Steps = append(c.p.Steps, Step{ID: id, Kind: StepUninstall, Action: ActionDelete,
		Object: ref, FromRevision: src.Revision, FromImage: src.ProxyImage})
	// Everything that would still use the old control plane after the plan.
	var users []string
	for _, ns := range c.snap.Namespaces {
		if !c.planned[ns.Name] && c.nsOnSource(ns) {
			users = append(users, "namespace "+ns.Name)
		}
	}
	gatewayPods := map[string]bool{}
	for _, g := range c.snap.Gateways {
		if c.gatewayWillRunOnTarget(g) {
			for _, p := range g.Pods {
				gatewayPods[g.Namespace+"/"+p.Name] = true
			}
		}
	}
	for _, wl := range c.snap.Workloads {
		if c.planned[wl.Namespace] {
			continue
		}
		for _, p := range wl.Pods {
			if gatewayPods[wl.Namespace+"/"+p.Name] {
				continue
			}
			if c.onSource(p) && !(wl.Namespace == src.Namespace && strings.HasPrefix(wl.Name, "istiod")) {
				users = append(users, "pod "+wl.Namespace+"/"+p.Name)
			}
		}
	}
	for _, g := range c.snap.Gateways {
		if g.ControlPlane == src.Revision && !c.gatewayWillRunOnTarget(g) {
			users = append(users, "gateway "+g.Namespace+"/"+g.Name)
		}
	}
	for _, tag := range src.Tags {
		users = append(users, fmt.Sprintf("revision tag %s (move it first: istioctl tag set %s --revision %s --overwrite)", tag, tag, c.cfg.Upgrade.To))
	}
	if len(users) > 0 {
		sort.Strings(users)
		c.add(Check{Code: CodeOldStillUsed, Severity: SeverityError, Object: ref,
			Message: fmt.Sprintf("the old control plane would still be used after the plan by: %s", strings.Join(users, ", ")),
			Hint:    "add them to a wave or gateway block, or set finalize { uninstall_old = false }"})
	}
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
		if st.Action == ActionNoop || st.Action == ActionCheck {
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
