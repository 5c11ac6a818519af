package plan

import (
	"fmt"
)

// permissionChecks report each permission apply needs that the identity
// the preflight asked about lacks: the caller, or the one plan was told
// will apply (the provider's preflight asks the API server).
func (c *computer) permissionChecks() {
	who := c.snap.PermissionsOf
	for _, perm := range c.snap.Permissions {
		if perm.Allowed {
			continue
		}
		res := perm.Resource
		if perm.Group != "" {
			res += "." + perm.Group
		}
		where := "cluster-wide"
		if perm.Namespace != "" {
			where = "in namespace " + perm.Namespace
		}
		if who.IsCaller() {
			c.add(Check{Code: CodeForbidden, Severity: SeverityError,
				Message: fmt.Sprintf("you may not %s %s %s; apply needs it", perm.Verb, res, where),
				Hint:    fmt.Sprintf("grant the verb %q on %q to your user (kubectl auth can-i %s %s)", perm.Verb, res, perm.Verb, res)})
			continue
		}
		as := " --as " + who.User
		for _, g := range who.Groups {
			as += " --as-group " + g
		}
		c.add(Check{Code: CodeForbidden, Severity: SeverityError,
			Message: fmt.Sprintf("%s may not %s %s %s; apply needs it", who, perm.Verb, res, where),
			Hint:    fmt.Sprintf("grant the verb %q on %q to user %s (kubectl auth can-i %s %s%s)", perm.Verb, res, who.User, perm.Verb, res, as)})
	}
}
