package plan

import (
	"fmt"
)

// tagChecks find a tag block that names no revision tag of the cluster.
func (c *computer) tagChecks() {
	for _, tc := range c.cfg.Tags {
		if _, found := c.before.Tags[tc.Name]; !found {
			c.add(Check{Code: CodeTagMissing, Severity: SeverityError, Object: tagWebhookRef(tc.Name),
				Message: fmt.Sprintf("revision tag %q does not exist", tc.Name),
				Hint:    fmt.Sprintf("create it on the source first (istioctl tag set %s --revision %s), or remove the tag block", tc.Name, c.cfg.Upgrade.From)})
		}
	}
}

// tagWebhookRef is the object a tag block moves: its webhook.
func tagWebhookRef(tag string) *ObjectRef {
	return &ObjectRef{Kind: "MutatingWebhookConfiguration", Name: TagWebhookName(tag)}
}
