package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/meshwave/meshwave/plan/config"
)

// DefaultInstallWait bounds the wait for an installed istiod to be Ready
// and its injector to answer.
const DefaultInstallWait = 5 * time.Minute

// The rules of an install: which objects of a manifest belong to a
// revision, which both revisions share, when a CRD would be downgraded, and
// how meshwave knows it applied an object already. The plan's checks
// (checks_install.go) and the provider's apply call them alike.

// AnnotationApplied is the annotation meshwave sets on every object it
// applies from a manifest: the ManifestHash of the manifest object. An
// object that carries the hash of the object apply would send was applied
// already, so a resumed apply does not send it again, and a re-plan shows
// it unchanged even where a controller changed it since (istiod fills in its
// webhooks' caBundle and failurePolicy).
const AnnotationApplied = "meshwave.io/applied-manifest"

// LabelReleaseVersion is the label Istio's charts put on what they
// render, the CRDs among them: the Istio release, "1.31.0".
const LabelReleaseVersion = "app.kubernetes.io/version"

// KindCRD is the kind of a CustomResourceDefinition.
const KindCRD = "CustomResourceDefinition"

// ManifestHash identifies a manifest object's content: the SHA-256 of its
// JSON, compact, hex. A saved plan holds the object indented; its hash is
// the same.
func ManifestHash(objJSON []byte) string {
	var compact bytes.Buffer
	if json.Compact(&compact, objJSON) == nil {
		objJSON = compact.Bytes()
	}
	sum := sha256.Sum256(objJSON)
	return hex.EncodeToString(sum[:])
}

// SharedByRevisions reports whether an object of kind with labels (the
// live object's) serves every revision rather than one: a CRD, or a
// validating webhook of a revision tag (istiod-default-validator, labeled
// istio.io/tag=default). An install may change it, and the plan shows the
// change; any other object labeled with another revision belongs to that
// revision and an install must leave it alone.
func SharedByRevisions(kind string, labels map[string]string) bool {
	return kind == KindCRD || (kind == "ValidatingWebhookConfiguration" && labels[LabelTag] != "")
}

// CRDDowngrade says why applying the manifest's CRD (its JSON) over the
// live one would downgrade it, "" when it would not: the manifest's release
// (LabelReleaseVersion) is older than the live CRD's, or it no longer serves
// a version the live CRD serves or has objects stored in. Objects of such a
// version would become unreadable to the old revision, or to the cluster.
func CRDDowngrade(crdJSON []byte, live CRDVersions) string {
	var crd struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(crdJSON, &crd); err != nil {
		return "its versions cannot be read: " + err.Error()
	}
	newRelease := crd.Metadata.Labels[LabelReleaseVersion]
	if n, err := version.ParseGeneric(newRelease); err == nil {
		if o, err := version.ParseGeneric(live.Release); err == nil && n.LessThan(o) {
			return fmt.Sprintf("the manifest's CRD is of Istio %s, the cluster's of Istio %s", newRelease, live.Release)
		}
	}
	var served []string
	for _, v := range crd.Spec.Versions {
		if v.Served {
			served = append(served, v.Name)
		}
	}
	var dropped []string
	for _, v := range slices.Concat(live.Served, live.Stored) {
		if !slices.Contains(served, v) && !slices.Contains(dropped, v) {
			dropped = append(dropped, v)
		}
	}
	if len(dropped) > 0 {
		return fmt.Sprintf("the manifest's CRD no longer serves %s, which the cluster's serves or stores objects in (served: %s; stored: %s)",
			strings.Join(dropped, ", "), strings.Join(live.Served, ", "), strings.Join(live.Stored, ", "))
	}
	return ""
}

// installing reports whether the plan installs its target.
func (c *computer) installing() bool { return c.cfg.Install != nil }

// manifestState is what the snapshot says of the manifest's ith object;
// an object the snapshot does not cover is taken as new.
func (c *computer) manifestState(i int) ManifestObjectState {
	if i < len(c.snap.Install) {
		return c.snap.Install[i]
	}
	return ManifestObjectState{Served: true}
}

// installSteps add the install phase: the manifest applied as one step,
// then the wait for the target's istiod and injector. One step for the
// whole manifest keeps its record whole: what it created and what each
// changed object was before, so a rollback of the step undoes exactly the
// install.
func (c *computer) installSteps() {
	if !c.installing() {
		return
	}
	to := c.cfg.Upgrade.To
	istiod := &ObjectRef{Kind: "Deployment", Namespace: c.targetNamespace(), Name: c.targetIstiod()}
	st := Step{ID: "install/" + to, Kind: StepInstall, Action: ActionNoop, ToRevision: to, ToImage: c.targetImage(),
		Object: c.installRef(istiod)}
	created, updated := 0, 0
	for i, o := range c.cfg.Install.Objects {
		s := c.manifestState(i)
		mc := ManifestChange{ObjectRef: ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}, APIVersion: o.APIVersion,
			JSON: o.JSON, Shared: s.Exists && SharedByRevisions(o.Kind, s.Labels)}
		switch {
		case !s.Exists:
			mc.Action = ActionCreate
			created++
		case s.Applied || (len(s.Changes) == 0 && s.Refused == ""):
			mc.Action = ActionNoop
		default:
			mc.Action, mc.Changes = ActionUpdate, s.Changes
			updated++
		}
		st.Manifest = append(st.Manifest, mc)
	}
	switch {
	case created > 0:
		st.Action = ActionCreate
	case updated > 0:
		st.Action = ActionUpdate
	default:
		st.Reason = "every object of the manifest is in the cluster as it says"
	}
	wait := Step{ID: "install/" + to + "/wait", Kind: StepInstallWait, Action: ActionRead, ToRevision: to, ToImage: c.targetImage(),
		Object: istiod, TimeoutSecond: int64(DefaultInstallWait.Seconds())}
	c.p.AddPhase(Phase{Kind: PhaseInstall}, []Step{st}, []Step{wait})
}

// installRef is what the install step names, in the terms the uninstall
// names the source: the resource that installs the control plane when the
// manifest holds one (Backyards' Istio), else the target's istiod.
func (c *computer) installRef(istiod *ObjectRef) *ObjectRef {
	for _, o := range c.cfg.Install.Objects {
		if o.Kind == c.flavor.ControlPlaneKind() {
			return &ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		}
	}
	return istiod
}

// targetIstiod is the name of the target's istiod Deployment, as the
// flavor names it.
func (c *computer) targetIstiod() string {
	if c.target != nil {
		return c.flavor.IstiodName(*c.target)
	}
	return c.flavor.IstiodName(ControlPlane{Revision: c.cfg.Upgrade.To})
}

// targetNamespace is the namespace of the target's istiod: the
// control plane's, else that of the manifest's istiod Deployment.
func (c *computer) targetNamespace() string {
	if c.target != nil && c.target.Namespace != "" {
		return c.target.Namespace
	}
	for _, o := range c.cfg.Install.Objects {
		if o.Kind == "Deployment" && o.Name == c.targetIstiod() {
			return o.Namespace
		}
	}
	return config.IstioNamespace
}
