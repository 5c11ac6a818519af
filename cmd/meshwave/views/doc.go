// Package views turns a computed plan.Plan into output: the human
// (Terraform-like) text, the versioned JSON of `plan -json` and `show -json`,
// and markdown for pull-request comments.
//
// Views only read the model. They never compute what a plan does: counts,
// totals and the "blocked" verdict come from the Plan itself, so the human and
// markdown renderers show exactly what the JSON says. Nothing else in meshwave
// prints a plan; commands pick a view and hand it the Plan and a writer.
package views
