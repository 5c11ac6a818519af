package plan

import (
	"fmt"

	"github.com/meshwave/meshwave/plan/config"
)

// gitopsChecks find the objects the plan changes that a GitOps controller
// manages: a relabeled namespace and a moved gateway would be set back to
// what git says. A restart is not named: its restartedAt annotation is a
// field git does not hold, which neither Argo CD's diff nor Flux's
// server-side apply sets back.
func (c *computer) gitopsChecks() {
	for _, st := range c.p.Steps {
		if st.Action != ActionUpdate || st.Object == nil {
			continue
		}
		switch st.Kind {
		case StepNamespaceRelabel:
			ns, ok := c.namespaces[st.Object.Name]
			if owner, managed := GitOpsOf(ns.Management); ok && managed {
				ref := *st.Object
				c.add(Check{Code: CodeGitOpsManaged, Severity: SeverityWarning, Object: &ref,
					Message: fmt.Sprintf("namespace is managed by %s, which will set its injection labels back to what git says (istio/istio#28967)", owner),
					Hint:    fmt.Sprintf("label it istio.io/rev=%s in git instead, or label it once in git with a revision tag and move the tag (a tag block) rather than relabeling", c.cfg.Upgrade.To)})
			}
		case StepGatewayMigrate:
			g := c.findGateway(config.GatewayConfig{Namespace: st.Object.Namespace, Name: st.Object.Name})
			if g == nil {
				continue
			}
			if owner, managed := GitOpsOf(g.Management); managed {
				ref := *st.Object
				c.add(Check{Code: CodeGitOpsManaged, Severity: SeverityWarning, Object: &ref,
					Message: fmt.Sprintf("gateway is managed by %s, which will move it back to the revision git says", owner),
					Hint:    fmt.Sprintf("set the gateway's revision to %s in git instead, or point it at a revision tag in git and move the tag (a tag block)", c.cfg.Upgrade.To)})
			}
		}
	}
}
