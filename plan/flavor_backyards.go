package plan

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/meshwave/meshwave/plan/config"
)

// backyardsRules are the planner's rules of Banzai Cloud's istio-operator
// (config.FlavorBackyards): an Istio custom resource per control plane,
// MeshGateway resources, and a Backyards release that ships one Istio minor.
type backyardsRules struct{}

var _ FlavorRules = backyardsRules{}

// IstiodName is "istiod-NAME" for the Istio resource NAME of the revision
// "NAME.NAMESPACE".
func (backyardsRules) IstiodName(cp ControlPlane) string {
	if name, _, ok := config.ParseBackyardsRevision(cp.Revision); ok {
		return "istiod-" + name
	}
	return IstiodName(cp.Revision)
}

func (backyardsRules) GatewayKind() string { return "MeshGateway" }

func (backyardsRules) ControlPlaneKind() string { return "Istio" }

func (backyardsRules) InstallHint(string) string {
	return "install it next to the old one (backyards install -a, or apply its Istio custom resource) and wait for its istiod"
}

// TagMoveHint is empty: Backyards has no revision tags.
func (backyardsRules) TagMoveHint(string) string { return "" }

// backyardsIstio maps a Backyards minor release to the Istio minor it ships.
var backyardsIstio = map[string]string{"1.3": "1.6", "1.4": "1.7", "1.5": "1.8"}

// Checks find a Backyards release that does not ship the target's Istio
// minor (MW004).
func (backyardsRules) Checks(snap *Snapshot, target *ControlPlane) []Check {
	if snap.BackyardsVersion == "" || target == nil {
		return nil
	}
	want, known := backyardsIstio[minorOf(snap.BackyardsVersion)]
	switch {
	case !known:
		return []Check{{Code: CodeBackyardsVersion, Severity: SeverityWarning,
			Message: fmt.Sprintf("Backyards %s is not in meshwave's version table (1.3→Istio 1.6, 1.4→1.7, 1.5→1.8)", snap.BackyardsVersion),
			Hint:    "make sure the Backyards release supports Istio " + target.Version}}
	case minorOf(target.Version) != want:
		return []Check{{Code: CodeBackyardsVersion, Severity: SeverityError,
			Object:  &ObjectRef{Kind: "Istio", Namespace: target.Namespace, Name: target.Name},
			Message: fmt.Sprintf("Backyards %s supports Istio %s, but the target control plane runs Istio %s", snap.BackyardsVersion, want, target.Version),
			Hint:    fmt.Sprintf("upgrade Backyards to the release that supports Istio %s first (backyards install -a), or target an Istio %s control plane", minorOf(target.Version), want)}}
	}
	return nil
}

// minorOf is "X.Y" of a version like "v1.7.0" or "1.7.0-bzc"; a version it
// cannot read stays as it is.
func minorOf(v string) string {
	parsed, err := version.ParseGeneric(v)
	if err != nil {
		return v
	}
	return fmt.Sprintf("%d.%d", parsed.Major(), parsed.Minor())
}

// RevisionSpecific are the Istio resource's version and its components'
// images (spec.proxy.image, spec.pilot.image, ...), which name the release
// rather than a setting.
func (backyardsRules) RevisionSpecific(source, path string) bool {
	return source == SettingsSpec && (path == "version" || path == "image" || strings.HasSuffix(path, ".image"))
}

// BackyardsGroup is the API group of Banzai Cloud's istio-operator.
const BackyardsGroup = "istio.banzaicloud.io"

// ManifestRevision is "<name>.<namespace>" of an Istio resource: the
// operator names the control plane it reconciles after it. Other objects
// of the manifest (a namespace, a MeshGateway) install no revision.
func (backyardsRules) ManifestRevision(o config.ManifestObject) (rev, by string, ok bool) {
	if o.Kind != "Istio" || o.Group() != BackyardsGroup {
		return "", "", false
	}
	return config.BackyardsRevision(o.Name, o.Namespace), "the name and namespace", true
}

func (backyardsRules) ManifestWants(to string) (want, hint string) {
	name, ns, _ := config.ParseBackyardsRevision(to)
	return fmt.Sprintf("is an Istio resource (%s) named %s in namespace %s", BackyardsGroup, name, ns),
		fmt.Sprintf("put the new control plane's Istio resource in it, with metadata.name %s and metadata.namespace %s (the file backyards install -a --istio-cr-file takes)", name, ns)
}
