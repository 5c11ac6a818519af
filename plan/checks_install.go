package plan

import (
	"fmt"
	"strings"

	"github.com/meshwave/meshwave/plan/config"
)

// installChecks refuse, before anything changes, a manifest that installs
// another revision than the target, one that would change an object of
// another revision, downgrade a CRD, or name a kind the cluster does not
// serve, and one the API server refuses to apply.
func (c *computer) installChecks() {
	if !c.installing() {
		return
	}
	in, to := c.cfg.Install, c.cfg.Upgrade.To
	c.manifestRevisionCheck(in, to)
	for i, o := range in.Objects {
		s := c.manifestState(i)
		ref := &ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		rng := o.Range
		switch {
		case !s.Served:
			c.add(Check{Code: CodeManifestUnknownKind, Severity: SeverityError, Object: ref, Range: &rng,
				Message: fmt.Sprintf("the cluster serves no kind %s in %s, and no CRD of the manifest defines it", o.Kind, o.APIVersion),
				Hint:    "install the CRD that defines it first, or render the manifest for this cluster's Kubernetes and Istio versions"})
			continue
		case s.Applied:
			continue
		case o.Kind == KindCRD && s.CRD != nil && CRDDowngrade(o.JSON, *s.CRD) != "":
			// Said before a refusal: the API server refuses some
			// downgrades (a stored version dropped) in its own words.
			c.add(Check{Code: CodeCRDDowngrade, Severity: SeverityError, Object: ref, Range: &rng,
				Message: "the install would downgrade this CRD: " + CRDDowngrade(o.JSON, *s.CRD),
				Hint:    "render the manifest from an Istio release at least as new as the one that installed the CRDs, or leave the CRDs out of it (istioctl manifest generate --set base.enabled=false)"})
			continue
		case s.Refused != "":
			c.add(Check{Code: CodeManifestRefused, Severity: SeverityError, Object: ref, Range: &rng,
				Message: "the API server refused a dry-run apply of it: " + s.Refused,
				Hint:    "fix the object in the manifest (or render it again), then plan again"})
			continue
		}
		if rev := s.Labels[LabelRevision]; s.Exists && len(s.Changes) > 0 && rev != "" && rev != to && !SharedByRevisions(o.Kind, s.Labels) {
			c.add(Check{Code: CodeInstallChangesOther, Severity: SeverityError, Object: ref, Range: &rng,
				Message: fmt.Sprintf("the install would change this object of revision %s (%s): an install must leave the old revision's objects as they are", rev, changesText(s.Changes, 3)),
				Hint:    "remove the object from the manifest, or render the manifest with --set revision=" + to + " so its objects are the new revision's own"})
		}
	}
}

// manifestRevisionCheck refuses a manifest whose objects install another
// revision than to, or none at all; the flavor says which revision an
// object installs (an istio.io/rev label, a Backyards Istio resource's name
// and namespace).
func (c *computer) manifestRevisionCheck(in *config.InstallConfig, to string) {
	found := false
	reported := map[string]bool{}
	_, hint := c.flavor.ManifestWants(to)
	for _, o := range in.Objects {
		rev, by, ok := c.flavor.ManifestRevision(o)
		switch {
		case !ok:
		case rev == to:
			found = true
		case !reported[rev]:
			reported[rev] = true
			rng := o.Range
			c.add(Check{Code: CodeManifestRevision, Severity: SeverityError, Object: &ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}, Range: &rng,
				Message: fmt.Sprintf("the manifest installs revision %q (%s of %s), not the upgrade's target %q", rev, by, o, to),
				Hint:    hint})
		}
	}
	if !found && len(reported) == 0 {
		rng := in.ManifestRange
		want, _ := c.flavor.ManifestWants(to)
		c.add(Check{Code: CodeManifestRevision, Severity: SeverityError, Range: &rng,
			Message: fmt.Sprintf("no object of %s %s: it does not install the target revision", in.Manifest, want),
			Hint:    hint})
	}
}

// changesText lists the first n changes' paths.
func changesText(changes []FieldChange, n int) string {
	var paths []string
	for i, ch := range changes {
		if i == n {
			paths = append(paths, fmt.Sprintf("and %d more", len(changes)-n))
			break
		}
		paths = append(paths, ch.Path)
	}
	return "changes " + strings.Join(paths, ", ")
}
