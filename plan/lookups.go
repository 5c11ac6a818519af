package plan

import (
	"fmt"
	"maps"
	"sort"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshwave/meshwave/plan/config"
)

// The lookups below answer the planner's questions about the snapshot:
// which control plane a revision names, which namespaces a wave takes, and
// whether a pod or namespace is on the source or the target.

// findControlPlane resolves a revision id, the "default" alias, or an istio
// revision tag to a control plane of the snapshot (FindControlPlane).
func (c *computer) findControlPlane(rev string) *ControlPlane {
	return FindControlPlane(c.snap.ControlPlanes, rev)
}

// FindControlPlane resolves a revision id, the "default" alias (the control
// plane of istio-injection=enabled namespaces), or an istio revision tag to
// one of cps; nil when none is. A revision id wins over a tag of that name.
func FindControlPlane(cps []ControlPlane, rev string) *ControlPlane {
	for i := range cps {
		cp := &cps[i]
		if cp.Revision == rev || (rev == config.DefaultRevision && cp.Default) {
			return cp
		}
	}
	for i := range cps {
		cp := &cps[i]
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
func (c *computer) waveNamespaces(w config.WaveConfig) []string {
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
	return InjectedBy(c.injectors.podInjections(c.after, ns.Name, ns.Labels, nil, nil)) == c.target.Revision
}

// nsOnSource reports whether a namespace is labeled for the source control
// plane's injection.
func (c *computer) nsOnSource(ns Namespace) bool {
	if c.source == nil {
		if v, ok := ns.Labels[LabelInjection]; ok {
			return v == "enabled" && c.cfg.Upgrade.From == config.DefaultRevision
		}
		return ns.Labels[LabelRevision] == c.cfg.Upgrade.From
	}
	return injectsRevision(c.injectors.podInjections(c.before, ns.Name, ns.Labels, nil, nil), c.source.Revision)
}

// labelsAfterWave are the labels a namespace a wave moves has once its
// relabel step ran (relabel), and any other namespace's own.
func (c *computer) labelsAfterWave(ns Namespace) map[string]string {
	if !c.planned[ns.Name] {
		return ns.Labels
	}
	if ls, ok := c.relabeled[ns.Name]; ok {
		return ls
	}
	set, remove := c.relabel(ns)
	out := maps.Clone(ns.Labels)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range remove {
		delete(out, k)
	}
	maps.Copy(out, set)
	c.relabeled[ns.Name] = out
	return out
}

// nextPodInjections are the injection webhooks the API server calls for the
// next pod of a workload once its namespace's wave relabeled it and the
// plan's tags moved: who a restart would have inject it.
func (c *computer) nextPodInjections(wl Workload) []Injection {
	ns := c.namespaces[wl.Namespace]
	return c.injectors.podInjections(c.after, wl.Namespace, c.labelsAfterWave(ns), wl.TemplateLabels, wl.TemplateAnnotations)
}

// optedOut reports whether no injector would inject a workload's next pod
// (its pod template opts out, InjectionOptedOut, or has a label no webhook
// selects): a restart would leave it without a proxy, so the wave neither
// restarts nor verifies it, and names it among the wave's opted-out
// workloads.
func (c *computer) optedOut(wl Workload) bool { return len(c.nextPodInjections(wl)) == 0 }

// onTargetReason says why a namespace needs no relabel.
func (c *computer) onTargetReason(ns Namespace) string {
	if v, ok := ns.Labels[LabelInjection]; ok {
		if c.movedTags[config.DefaultRevision] {
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

func (c *computer) findGateway(gc config.GatewayConfig) *MeshGateway {
	for i := range c.snap.Gateways {
		g := &c.snap.Gateways[i]
		if g.Name == gc.Name && g.Namespace == gc.Namespace {
			return g
		}
	}
	return nil
}

// targetImage and sourceImage are the proxy images of the target and source
// control planes; "" when one is not installed.
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

func allOnTarget(c *computer, pods []Pod) bool {
	for _, p := range pods {
		if !c.onTarget(p) {
			return false
		}
	}
	return true
}

// hasSidecar reports whether some pod of w runs an istio-proxy: only those
// workloads a wave restarts.
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
			if !c.optedOut(wl) && c.hasPodOff(wl) {
				return true
			}
		}
	}
	return false
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
