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
