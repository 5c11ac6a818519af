package plan

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/version"
)

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

func runAsRootText(b *bool) string {
	if b == nil {
		return "omitted"
	}
	return fmt.Sprintf("%t", *b)
}

// versionAtLeast reports whether v ("1.7.0", "v1.7.0-bzc") is at least
// major.minor; a version it cannot read is not.
func versionAtLeast(v string, major, minor uint) bool {
	parsed, err := version.ParseGeneric(v)
	return err == nil && parsed.AtLeast(version.MajorMinor(major, minor))
}

// SharedProxyNames are the names of the DaemonSets whose proxies every
// live revision talks to: istio-cni's node agent and ambient's ztunnel.
var SharedProxyNames = []string{"istio-cni-node", "ztunnel"}

// MinorsApart is how many minor versions target is ahead of source (negative
// when it is behind), and whether both versions could be read. Istio
// supports a control plane at most one minor ahead of its proxies and
// never behind them.
func MinorsApart(source, target string) (int, bool) {
	s, err1 := version.ParseGeneric(source)
	t, err2 := version.ParseGeneric(target)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	if s.Major() != t.Major() {
		if t.Major() > s.Major() {
			return 100, true
		}
		return -100, true
	}
	return int(t.Minor()) - int(s.Minor()), true
}

// skewChecks refuse a plan whose steps would put proxies ahead of the
// control plane they talk to (a downgrade; an automatic rollback across
// more than one minor), and warn of a jump of more than one minor where
// istio-cni or ztunnel serve every revision's proxies.
func (c *computer) skewChecks() {
	from, to := c.source.Version, c.target.Version
	older := false
	if s, err := version.ParseGeneric(from); err == nil {
		if t, err := version.ParseGeneric(to); err == nil {
			older = t.LessThan(s)
		}
	}
	apart, ok := MinorsApart(from, to)
	if !ok {
		return
	}
	rng := c.cfg.Upgrade.DefRange
	switch {
	case older:
		c.add(Check{Code: CodeDowngrade, Severity: SeverityError, Range: &rng,
			Message: fmt.Sprintf("target %s runs Istio %s, older than the source %s (Istio %s): the gateways and proxies the plan moves would run ahead of the control plane they talk to", c.target.Revision, to, c.source.Revision, from),
			Hint:    "a plan moves proxies only onto the same or a newer Istio: undo an upgrade with meshwave rollback while its state is kept, or target a revision at least as new as the source"})
	case apart > 1 && c.cfg.Rollback.Automatic:
		c.add(Check{Code: CodeRollbackSkew, Severity: SeverityError, Range: &rng,
			Message: fmt.Sprintf("Istio %s to %s is %d minor versions: a rollback of a failed wave would move its proxies back across more than one minor version, which Istio does not support", from, to, apart),
			Hint:    "upgrade one minor version at a time (install the revision in between), or set rollback { automatic = false }"})
	}
	if apart > 1 && !older {
		for _, ds := range c.snap.SharedProxies {
			ref := ds
			c.add(Check{Code: CodeSharedProxySkew, Severity: SeverityWarning, Object: &ref, Range: &rng,
				Message: fmt.Sprintf("Istio %s to %s is %d minor versions, and %s serves the proxies of every live revision: it must stay within one minor version of each", from, to, apart, ds.Name),
				Hint:    "upgrade one minor version at a time, upgrading " + ds.Name + " with each step"})
		}
	}
}
