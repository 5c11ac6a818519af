package plan

import (
	"fmt"

	"github.com/meshwave/meshwave/plan/config"
)

// istioRules are the planner's rules of upstream Istio
// (config.FlavorIstio): an IstioOperator per revision, gateways as plain
// Deployments, and revision tags.
type istioRules struct{}

var _ FlavorRules = istioRules{}

func (istioRules) IstiodName(cp ControlPlane) string { return IstiodName(cp.Revision) }

func (istioRules) GatewayKind() string { return "Deployment" }

func (istioRules) ControlPlaneKind() string { return "IstioOperator" }

func (istioRules) InstallHint(to string) string {
	return fmt.Sprintf("install it next to the old one: istioctl install --set revision=%s", to)
}

func (istioRules) TagMoveHint(to string) string {
	return fmt.Sprintf("; a tag block moves a tag as a step (or by hand: istioctl tag set TAG --revision %s --overwrite)", to)
}

// Checks are none: upstream Istio's checks apply to every flavor.
func (istioRules) Checks(*Snapshot, *ControlPlane) []Check { return nil }

// istioRevisionSpecific are the settings istioctl and the charts set from
// the revision itself: its name, its image tag and hub (the plan shows the
// proxy image apart), and where its proxies find their istiod
// (istiod-REV.NAMESPACE.svc:15012).
var istioRevisionSpecific = map[string]map[string]bool{
	SettingsMesh:   {"defaultConfig.discoveryAddress": true},
	SettingsValues: {"revision": true, "global.tag": true, "global.hub": true},
}

func (istioRules) RevisionSpecific(source, path string) bool {
	return istioRevisionSpecific[source][path]
}

// ManifestRevision is the object's istio.io/rev label: istioctl and the
// charts label every object of a revision with it.
func (istioRules) ManifestRevision(o config.ManifestObject) (rev, by string, ok bool) {
	rev, ok = o.Labels[LabelRevision]
	return rev, "label " + LabelRevision, ok
}

func (istioRules) ManifestWants(to string) (want, hint string) {
	return fmt.Sprintf("carries %s=%s", LabelRevision, to),
		"render the manifest for the target: istioctl manifest generate --set revision=" + to + " …"
}
