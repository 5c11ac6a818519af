package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshwave/meshwave/plan"
	"github.com/meshwave/meshwave/plan/config"
)

// permissions asks the API server whether the identity that will apply
// may do everything apply will do: the caller, with
// SelfSubjectAccessReviews, or the identity plan was told about
// (permissionsFor), with SubjectAccessReviews. Each verb is checked
// cluster-wide first; only a verb denied cluster-wide is checked in the
// namespaces the plan touches, where a RoleBinding may grant it.
func (p *Provider) permissions(ctx context.Context, cfg *config.Config, snap *plan.Snapshot) ([]plan.Permission, error) {
	var out []plan.Permission
	needs := p.permissionNeeds(cfg, snap)
	if cfg.Install != nil {
		more, err := p.installNeeds(ctx, cfg.Install.Objects)
		if err != nil {
			return nil, err
		}
		needs = append(needs, more...)
	}
	for _, n := range needs {
		ok, err := p.canI(ctx, p.permissionsFor, n.verb, n.group, n.resource, "")
		if err != nil {
			return nil, err
		}
		if ok {
			continue
		}
		if len(n.namespaces) == 0 {
			out = append(out, plan.Permission{Verb: n.verb, Group: n.group, Resource: n.resource})
			continue
		}
		for _, ns := range n.namespaces {
			ok, err := p.canI(ctx, p.permissionsFor, n.verb, n.group, n.resource, ns)
			if err != nil {
				return nil, err
			}
			if !ok {
				out = append(out, plan.Permission{Verb: n.verb, Group: n.group, Resource: n.resource, Namespace: ns})
			}
		}
	}
	return out, nil
}

// permissionNeed is a verb apply needs on a resource: cluster-wide, or else
// in each of namespaces.
type permissionNeed struct {
	verb, group, resource string
	namespaces            []string
}

// permissionNeeds are the verbs apply of cfg needs.
func (p *Provider) permissionNeeds(cfg *config.Config, snap *plan.Snapshot) []permissionNeed {
	waveNS := explicitNamespaces(cfg)
	var gwNS []string
	for _, g := range cfg.Gateways {
		gwNS = append(gwNS, g.Namespace)
	}
	needs := []permissionNeed{
		{"patch", "", "namespaces", nil},
		{"patch", "apps", "deployments", waveNS},
		{"patch", "apps", "statefulsets", waveNS},
		{"patch", "apps", "daemonsets", waveNS},
		// The dry-run pod that proves injection before a namespace's first
		// restart (probeInjection).
		{"create", "", "pods", waveNS},
	}
	// Apply's waits watch these cluster-wide (clusterCache).
	for _, r := range []struct{ group, resource string }{{"apps", "deployments"}, {"apps", "statefulsets"},
		{"apps", "daemonsets"}, {"apps", "replicasets"}, {"", "pods"}, {"", "events"}} {
		needs = append(needs, permissionNeed{"watch", r.group, r.resource, nil})
	}
	// The evictions of the waves that roll OnDelete StatefulSets
	// (roll_on_delete).
	if nss, opted := evictNamespaces(cfg); opted {
		needs = append(needs, permissionNeed{"create", "", "pods/eviction", nss})
	}
	if hasRollouts(snap) {
		// Restarted through spec.restartAt, and watched like the others.
		needs = append(needs, permissionNeed{"patch", gvrRollout.Group, gvrRollout.Resource, waveNS},
			permissionNeed{"watch", gvrRollout.Group, gvrRollout.Resource, nil})
	}
	if len(cfg.Gateways) > 0 {
		gr := p.flavor.gatewayResource()
		needs = append(needs, permissionNeed{"patch", gr.Group, gr.Resource, gwNS})
	}
	if len(cfg.Tags) > 0 {
		needs = append(needs,
			permissionNeed{"update", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", nil},
			permissionNeed{"update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", nil},
			permissionNeed{"patch", "", "services", nil})
	}
	if cfg.Finalize.UninstallOld {
		needs = append(needs, p.uninstallNeeds(cfg, snap)...)
	}
	return append(needs, stateNeeds(cfg.State)...)
}

// stateNeeds are the verbs the Kubernetes state backend uses in its
// namespace: the state Secret read and written, the Lease that locks it
// taken, renewed and released.
func stateNeeds(st config.StateConfig) []permissionNeed {
	if st.Backend != config.StateKubernetes {
		return nil
	}
	ns := []string{st.Namespace}
	var needs []permissionNeed
	for _, verb := range []string{"get", "create", "update"} {
		needs = append(needs, permissionNeed{verb, "", "secrets", ns})
	}
	for _, verb := range []string{"get", "create", "update", "delete"} {
		needs = append(needs, permissionNeed{verb, "coordination.k8s.io", "leases", ns})
	}
	return needs
}

// uninstallNeeds are the deletes the uninstall makes: the installing
// resource, and for upstream Istio each kind of object the revision is made
// of.
func (p *Provider) uninstallNeeds(cfg *config.Config, snap *plan.Snapshot) []permissionNeed {
	var old []plan.ControlPlane
	for _, cp := range snap.ControlPlanes {
		if cp.Revision == cfg.Upgrade.From || cfg.Upgrade.From == config.DefaultRevision && cp.Default {
			old = append(old, cp)
		}
	}
	kinds := p.flavor.uninstallKinds(old)
	var needs []permissionNeed
	for _, k := range installedKinds {
		if kinds[k.kind] {
			needs = append(needs, permissionNeed{"delete", k.gvr.Group, k.gvr.Resource, nil})
		}
	}
	for kind, gvr := range map[string]schema.GroupVersionResource{"Istio": gvrIstio, "IstioOperator": gvrIstioOperator} {
		if kinds[kind] {
			needs = append(needs, permissionNeed{"delete", gvr.Group, gvr.Resource, nil})
		}
	}
	return needs
}

// installNeeds are what the install and its rollback send for each
// resource of the manifest: a server-side apply (patch), an update (a
// restore) and a delete, in the objects' namespaces (cluster-wide for
// cluster-scoped ones). Kinds the cluster does not serve yet (defined by a
// CRD of the manifest) are not asked about.
func (p *Provider) installNeeds(ctx context.Context, objs []config.ManifestObject) ([]permissionNeed, error) {
	type res struct{ group, resource string }
	var order []res
	nss := map[res][]string{}
	cluster := map[res]bool{}
	for _, o := range objs {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			continue
		}
		m, err := p.mapping(ctx, gv.WithKind(o.Kind), false)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r := res{m.Resource.Group, m.Resource.Resource}
		if _, seen := nss[r]; !seen && !cluster[r] {
			order = append(order, r)
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			cluster[r] = true
			continue
		}
		if !slices.Contains(nss[r], o.Namespace) {
			nss[r] = append(nss[r], o.Namespace)
		}
	}
	var needs []permissionNeed
	for _, r := range order {
		in := nss[r]
		if cluster[r] {
			in = nil
		}
		for _, verb := range []string{"patch", "update", "delete"} {
			needs = append(needs, permissionNeed{verb, r.group, r.resource, in})
		}
	}
	return needs, nil
}

// canI asks whether who (the zero Identity: the caller) may verb resource
// ("pods", or with its subresource "pods/eviction") in namespace ns ("":
// cluster-wide).
func (p *Provider) canI(ctx context.Context, who plan.Identity, verb, group, resource, ns string) (bool, error) {
	res, sub, _ := strings.Cut(resource, "/")
	attrs := &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: res, Subresource: sub, Namespace: ns}
	var allowed bool
	err := p.call(ctx, func(ctx context.Context) (err error) {
		allowed, err = p.review(ctx, who, attrs)
		return err
	})
	switch {
	case err == nil:
		return allowed, nil
	case who.IsCaller():
		return false, fmt.Errorf("check permission to %s %s: %w", verb, resource, err)
	}
	return false, fmt.Errorf("check whether %s may %s %s (asking about another user needs create on subjectaccessreviews.authorization.k8s.io): %w",
		who, verb, resource, err)
}

// review sends one access review of attrs: about the caller a
// SelfSubjectAccessReview, about another identity a SubjectAccessReview
// naming it. Nothing else differs.
func (p *Provider) review(ctx context.Context, who plan.Identity, attrs *authorizationv1.ResourceAttributes) (bool, error) {
	if who.IsCaller() {
		r, err := p.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return r.Status.Allowed, nil
	}
	r, err := p.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: attrs, User: who.User, Groups: who.Groups}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}

// hasRollouts says whether the cluster has pods of an Argo Rollout, which
// a wave may restart (the plan, computed after the permissions, says which).
func hasRollouts(snap *plan.Snapshot) bool {
	for _, w := range snap.Workloads {
		if w.Kind == plan.KindRollout {
			return true
		}
	}
	return false
}

// explicitNamespaces lists the namespaces waves name; selector matches are
// covered by the cluster-wide check.
func explicitNamespaces(cfg *config.Config) []string {
	return namespacesOf(cfg.Waves)
}

// evictNamespaces lists the namespaces named by the waves that opt in to
// roll_on_delete; opted is false when no wave does.
func evictNamespaces(cfg *config.Config) (nss []string, opted bool) {
	waves := slices.DeleteFunc(slices.Clone(cfg.Waves), func(w config.WaveConfig) bool { return !w.RollOnDelete })
	return namespacesOf(waves), len(waves) > 0
}

// namespacesOf lists the namespaces waves name, sorted, each once.
func namespacesOf(waves []config.WaveConfig) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range waves {
		for _, n := range w.Namespaces {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}
