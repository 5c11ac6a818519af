package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshwave/meshwave/plan"
)

// -permissions-for names the identity the RBAC preflight asks about, with
// the groups of -permissions-for-group; without it, the caller.
func TestPermissionsIdentity(t *testing.T) {
	tests := map[string]struct {
		flags   kubeFlags
		want    plan.Identity
		wantErr string
	}{
		"none": {},
		"a user": {flags: kubeFlags{permissionsFor: "system:serviceaccount:ci:meshwave-apply"},
			want: plan.Identity{User: "system:serviceaccount:ci:meshwave-apply"}},
		"a user and groups": {flags: kubeFlags{permissionsFor: "ci-apply", permissionsForGroups: []string{"ci", "system:authenticated"}},
			want: plan.Identity{User: "ci-apply", Groups: []string{"ci", "system:authenticated"}}},
		"groups alone":   {flags: kubeFlags{permissionsForGroups: []string{"ci"}}, wantErr: "-permissions-for-group needs -permissions-for"},
		"an empty group": {flags: kubeFlags{permissionsFor: "ci-apply", permissionsForGroups: []string{""}}, wantErr: "-permissions-for-group: a group has a name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.flags.permissionsIdentity()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

// A group without its user is refused before plan reads anything; apply
// has no such flag (it checks the permissions of whoever runs it).
func TestPermissionsForFlags(t *testing.T) {
	code, out, errOut := runCmd(t, "plan", "-permissions-for-group", "ci", "-f", "testdata/no-waves.mw.hcl", "-kubeconfig", "testdata/none")
	want := "Error: -permissions-for-group needs -permissions-for: the groups belong to the user whose permissions plan checks\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("plan: exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, out, errOut, want)
	}
	code, _, errOut = runCmd(t, "apply", "-permissions-for", "someone")
	if code != 1 || !strings.Contains(errOut, "unknown flag: --permissions-for") {
		t.Errorf("apply -permissions-for: exit %d, stderr %q; want an unknown flag", code, errOut)
	}
}
