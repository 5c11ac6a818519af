package plan

import "fmt"

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
