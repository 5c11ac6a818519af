package plan

import (
	"fmt"
	"strings"
)

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
