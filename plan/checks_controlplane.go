package plan

import (
	"fmt"
)

// controlPlaneChecks find a source or target control plane that is missing
// or not ready, then run the flavor's own checks and those of the target's
// Istio version.
func (c *computer) controlPlaneChecks() {
	up := c.cfg.Upgrade
	switch {
	case c.installing():
		// The plan installs the target and waits for it (installChecks
		// say what is wrong with its manifest).
	case c.target == nil:
		c.add(Check{Code: CodeTargetMissing, Severity: SeverityError,
			Message: fmt.Sprintf("target control plane %q is not installed", up.To),
			Hint:    c.flavor.InstallHint(up.To)})
	case !c.target.Ready():
		c.add(Check{Code: CodeTargetNotReady, Severity: SeverityError,
			Object:  &ObjectRef{Kind: "Deployment", Namespace: c.target.Namespace, Name: c.flavor.IstiodName(*c.target)},
			Message: fmt.Sprintf("target control plane %q has %d istiod pod(s), %d Ready", up.To, len(c.target.Istiod), readyCount(c.target.Istiod)),
			Hint:    "wait until the new istiod is Ready (kubectl get po -n " + c.target.Namespace + "), or fix the control plane before moving workloads to it"})
	}
	if c.source == nil && c.somethingLeftToMove() {
		c.add(Check{Code: CodeSourceMissing, Severity: SeverityError,
			Message: fmt.Sprintf("source control plane %q is not installed, but the plan still has namespaces to move from it", up.From),
			Hint:    "check upgrade.from against `kubectl get po -A -L istio.io/rev`"})
	}
	for _, ch := range c.flavor.Checks(c.snap, c.target) {
		c.add(ch)
	}
	if c.target != nil {
		c.targetVersionChecks()
	}
	if c.source != nil && c.target != nil {
		c.skewChecks()
	}
}
