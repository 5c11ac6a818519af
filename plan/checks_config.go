package plan

import (
	"fmt"

	"github.com/meshwave/meshwave/plan/config"
)

// configChecks find what the plan file names that the cluster does not
// have, or has in a shape the plan cannot move: a gateway, a wave's
// namespaces and their labels, and their workloads (checks_workloads.go).
func (c *computer) configChecks() {
	for _, gc := range c.cfg.Gateways {
		if c.findGateway(gc) == nil {
			c.add(Check{Code: CodeGatewayMissing, Severity: SeverityError,
				Object:  &ObjectRef{Kind: c.flavor.GatewayKind(), Namespace: gc.Namespace, Name: gc.Name},
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
			if c.deleted(w, name) {
				continue // deletedChecks names it
			}
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
				if !c.optedOut(wl) {
					c.workloadChecks(w, wl)
				}
			}
		}
	}
}

func sourceLabelHint(from string, src *ControlPlane, ns string) string {
	if from == config.DefaultRevision || (src != nil && src.Default) {
		return fmt.Sprintf("kubectl label ns %s istio-injection=enabled, or remove it from the wave", ns)
	}
	return fmt.Sprintf("kubectl label ns %s istio.io/rev=%s, or remove it from the wave", ns, from)
}
