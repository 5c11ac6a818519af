package plan

import (
	"fmt"
)

// permissionChecks report each permission apply needs that the caller
// lacks (the provider's preflight asks the API server).
func (c *computer) permissionChecks() {
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
		c.add(Check{Code: CodeForbidden, Severity: SeverityError,
			Message: fmt.Sprintf("you may not %s %s %s; apply needs it", perm.Verb, res, where),
			Hint:    fmt.Sprintf("grant the verb %q on %q to your user (kubectl auth can-i %s %s)", perm.Verb, res, perm.Verb, res)})
	}
}
