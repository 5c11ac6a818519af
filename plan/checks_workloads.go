package plan

import (
	"fmt"
)

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
