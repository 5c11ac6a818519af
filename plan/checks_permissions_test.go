package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// MW012 names whom the preflight asked about: the caller ("you"), or the
// identity plan was told will apply, with a kubectl command that asks the
// same question about it.
func TestPermissionChecksNameTheIdentity(t *testing.T) {
	perms := []Permission{
		{Verb: "patch", Resource: "namespaces"},
		{Verb: "get", Resource: "secrets", Namespace: "meshwave"},
		{Verb: "watch", Group: "apps", Resource: "deployments", Allowed: true},
	}
	tests := map[string]struct {
		who  Identity
		want []Check
	}{
		"the caller": {want: []Check{
			{Code: CodeForbidden, Severity: SeverityError, Message: "you may not patch namespaces cluster-wide; apply needs it",
				Hint: `grant the verb "patch" on "namespaces" to your user (kubectl auth can-i patch namespaces)`},
			{Code: CodeForbidden, Severity: SeverityError, Message: "you may not get secrets in namespace meshwave; apply needs it",
				Hint: `grant the verb "get" on "secrets" to your user (kubectl auth can-i get secrets)`},
		}},
		"a service account": {who: Identity{User: "system:serviceaccount:ci:meshwave-apply"}, want: []Check{
			{Code: CodeForbidden, Severity: SeverityError,
				Message: "user system:serviceaccount:ci:meshwave-apply may not patch namespaces cluster-wide; apply needs it",
				Hint:    `grant the verb "patch" on "namespaces" to user system:serviceaccount:ci:meshwave-apply (kubectl auth can-i patch namespaces --as system:serviceaccount:ci:meshwave-apply)`},
			{Code: CodeForbidden, Severity: SeverityError,
				Message: "user system:serviceaccount:ci:meshwave-apply may not get secrets in namespace meshwave; apply needs it",
				Hint:    `grant the verb "get" on "secrets" to user system:serviceaccount:ci:meshwave-apply (kubectl auth can-i get secrets --as system:serviceaccount:ci:meshwave-apply)`},
		}},
		"a user with groups": {who: Identity{User: "ci-apply", Groups: []string{"ci", "system:authenticated"}}, want: []Check{
			{Code: CodeForbidden, Severity: SeverityError,
				Message: "user ci-apply (groups ci, system:authenticated) may not patch namespaces cluster-wide; apply needs it",
				Hint:    `grant the verb "patch" on "namespaces" to user ci-apply (kubectl auth can-i patch namespaces --as ci-apply --as-group ci --as-group system:authenticated)`},
			{Code: CodeForbidden, Severity: SeverityError,
				Message: "user ci-apply (groups ci, system:authenticated) may not get secrets in namespace meshwave; apply needs it",
				Hint:    `grant the verb "get" on "secrets" to user ci-apply (kubectl auth can-i get secrets --as ci-apply --as-group ci --as-group system:authenticated)`},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, snap := backyardsConfig(), backyardsSnapshot()
			snap.Permissions, snap.PermissionsOf = perms, tc.who
			var got []Check
			for _, ch := range Compute(cfg, snap).Checks {
				if ch.Code == CodeForbidden {
					got = append(got, ch)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
		})
	}
}
