package plan

import (
	"fmt"
	"strings"
)

// overlapChecks finds the namespaces a wave moves where, once relabeled,
// more than one injection webhook would inject a new pod.
func (c *computer) overlapChecks() {
	for _, ns := range c.snap.Namespaces {
		if !c.planned[ns.Name] {
			continue
		}
		injections := c.injectors.podInjections(c.after, ns.Name, c.labelsAfterWave(ns), nil, nil)
		if len(injections) > 1 {
			hooks := make([]string, len(injections))
			for i, in := range injections {
				hooks[i] = in.String()
			}
			c.add(Check{Code: CodeInjectorOverlap, Severity: SeverityWarning, Object: &ObjectRef{Kind: "Namespace", Name: ns.Name},
				Message: fmt.Sprintf("after the wave, %d injection webhooks would inject new pods of this namespace: %s; which revision injects a pod is then undefined", len(hooks), strings.Join(hooks, ", ")),
				Hint:    "remove the duplicate injector, or the label that selects it (istioctl analyze reports this as IST0139)"})
		}
	}
}
