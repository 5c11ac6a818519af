package plan

import (
	"fmt"
	"strings"
)

// uninstallChecks find what an uninstall of the source control plane would
// break: users it would still have after the plan (MW015), workloads pinned
// to it by their own pod-template label (MW041), the manual follow-up the
// uninstall waits for (MW042), webhooks that
// would call it (MW018), and a Helm release that would still record it
// (MW019).
func (c *computer) uninstallChecks() {
	src := c.source
	if !c.cfg.Finalize.UninstallOld || src == nil {
		return
	}
	ref := c.uninstallRef(src)
	move := Move{Namespaces: c.planned, Gateways: map[string]bool{}, Tags: c.movedTags}
	for _, g := range c.cfg.Gateways {
		move.Gateways[g.Namespace+"/"+g.Name] = true
	}
	u := RevisionUsersOf(c.snap, *src, move)
	users := u.Described()
	for _, p := range u.Pinned {
		wl := p.Workload
		c.add(Check{Code: CodePinnedToOld, Severity: SeverityError, Object: &wl,
			Message: fmt.Sprintf("its pod template's label %s has its pods injected by the old control plane %s, whatever its namespace's labels; the uninstall would leave its next pods without a proxy", p.Label, src.Revision),
			Hint:    fmt.Sprintf("label its pod template %s=%s (or remove the label and add namespace %s to a wave), let it roll, then plan again", LabelRevision, c.cfg.Upgrade.To, wl.Namespace)})
	}
	if len(users) > 0 {
		hint := "add them to a wave, gateway or tag block, or set finalize { uninstall_old = false }"
		if len(src.Tags) > 0 {
			hint += c.flavor.TagMoveHint(c.cfg.Upgrade.To)
		}
		c.add(Check{Code: CodeOldStillUsed, Severity: SeverityError, Object: ref,
			Message: fmt.Sprintf("the old control plane would still be used after the plan by: %s", strings.Join(users, ", ")),
			Hint:    hint})
	}
	if len(c.p.ManualFollowUp) > 0 {
		var moves []string
		for _, f := range c.p.ManualFollowUp {
			moves = append(moves, fmt.Sprintf("%s %s/%s (wave %s)", f.Object.Kind, f.Object.Namespace, f.Object.Name, f.Wave))
		}
		c.add(Check{Code: CodeUninstallAwaitsFollowUp, Severity: SeverityWarning, Object: ref,
			Message: fmt.Sprintf("the uninstall waits for the manual follow-up: %s; apply stops before the uninstall while they still use %s", strings.Join(moves, ", "), src.Revision),
			Hint:    "move them by hand after their wave as the follow-up says, then run apply again to uninstall; or set finalize { uninstall_old = false }"})
	}
	c.danglingWebhookChecks(src, c.uninstalledObjects(src))
	if src.HelmRelease != "" {
		c.add(Check{Code: CodeHelmInstalled, Severity: SeverityWarning, Object: ref,
			Message: fmt.Sprintf("revision %s was installed by the Helm release %s; meshwave deletes its objects, and Helm still records the release", src.Revision, src.HelmRelease),
			Hint:    fmt.Sprintf("uninstall the release instead (helm uninstall %s -n %s) and set finalize { uninstall_old = false }, or remove Helm's record afterwards", helmName(src.HelmRelease), helmNamespace(src.HelmRelease))})
	}
}

// danglingWebhookChecks finds the webhooks that would still call the old
// control plane once the uninstall has deleted its objects: an admission
// webhook whose server is gone fails or silently skips every request it
// matches (istio/istio#28880, #43227).
func (c *computer) danglingWebhookChecks(src *ControlPlane, deleted []ObjectRef) {
	gone := map[ObjectRef]bool{}
	for _, o := range deleted {
		gone[ObjectRef{Kind: o.Kind, Name: o.Name}] = true
	}
	// Where only the old control plane listens: an endpoint another
	// revision serves too (one server for several) stays up.
	endpoints := map[string]bool{}
	for _, e := range src.Endpoints {
		endpoints[e] = true
	}
	for _, cp := range c.snap.ControlPlanes {
		if cp.Revision != src.Revision {
			for _, e := range cp.Endpoints {
				delete(endpoints, e)
			}
		}
	}
	for _, w := range c.snap.Webhooks {
		// The revision's own webhooks go with it (the installer's, or the
		// uninstall's objects); its tags are MW015's.
		if gone[w.Ref()] || w.Revision == src.Revision || (w.Tag != "" && c.movedTags[w.Tag]) {
			continue
		}
		calls := false
		for _, e := range w.Endpoints {
			calls = calls || endpoints[e]
		}
		if !calls {
			continue
		}
		ref := w.Ref()
		hint := fmt.Sprintf("point it at %s or delete it before the uninstall", c.cfg.Upgrade.To)
		if w.Tag != "" {
			hint = fmt.Sprintf("add tag %q {} to the plan, so it moves to %s first", w.Tag, c.cfg.Upgrade.To)
		}
		c.add(Check{Code: CodeWebhookDangling, Severity: SeverityError, Object: &ref,
			Message: fmt.Sprintf("%s %s would still call control plane %s after the uninstall removes it", w.Kind, w.Name, src.Revision),
			Hint:    hint})
	}
}

// helmName and helmNamespace split a Helm release as the snapshot records
// it, "NAMESPACE/NAME".
func helmName(release string) string {
	_, name, _ := strings.Cut(release, "/")
	return name
}

func helmNamespace(release string) string {
	ns, _, _ := strings.Cut(release, "/")
	return ns
}
