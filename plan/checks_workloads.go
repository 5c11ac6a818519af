package plan

import (
	"fmt"

	"github.com/meshwave/meshwave/plan/config"
)

// workloadChecks find a workload of wave w that neither a restart nor (where
// the wave opts in) an eviction can roll, and pods on neither the source nor
// the target proxy.
func (c *computer) workloadChecks(w config.WaveConfig, wl Workload) {
	wref := &ObjectRef{Kind: string(wl.Kind), Namespace: wl.Namespace, Name: wl.Name}
	evicted := w.RollOnDelete && RollsByEviction(wl.Rollout())
	if reason, manual := NotRollable(wl.Rollout()); reason != "" && !evicted && c.hasPodOff(wl) {
		c.add(Check{Code: CodeNotRollable, Severity: SeverityWarning, Object: wref,
			Message: "cannot be restarted by meshwave: " + reason,
			Hint:    "apply leaves it to you: " + manual + evictHint(w, wl)})
	}
	if reason, missing := c.proxyPin(wl); missing != nil {
		c.add(Check{Code: CodeInjectTemplateMissing, Severity: SeverityError, Object: wref,
			Message: reason + ": its restarted pods could not be injected",
			Hint: fmt.Sprintf("remove the template from the pod template's %s annotation, or install revision %s with it (a custom injection template in its values)",
				AnnotationInjectTemplates, c.target.Revision)})
	} else if reason != "" {
		c.add(Check{Code: CodeProxyPinned, Severity: SeverityWarning, Object: wref,
			Message: reason + ", so meshwave neither restarts nor verifies it",
			Hint:    pinnedManual(c.targetImage())})
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

// evictHint offers the opt-in of a wave whose workload an eviction would
// roll.
func evictHint(w config.WaveConfig, wl Workload) string {
	if !RollsByEviction(wl.Rollout()) {
		return ""
	}
	return fmt.Sprintf("; or set roll_on_delete = true in wave %q and apply evicts its pods one at a time, honouring PodDisruptionBudgets", w.Name)
}

// proxyPin is ProxyPin against the target, for a workload with a proxy
// not on the target yet.
func (c *computer) proxyPin(wl Workload) (reason string, missing []string) {
	if c.target == nil || !c.hasPodOff(wl) {
		return "", nil
	}
	return ProxyPin(wl, *c.target)
}

// pinnedManual is what a person does to move a workload whose pod template
// pins its proxy image.
func pinnedManual(image string) string {
	return fmt.Sprintf("remove the %s annotation from its pod template (or set it to %s), which rolls it onto the target", AnnotationProxyImage, image)
}
