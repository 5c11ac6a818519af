// Package views turns a computed plan.Plan into output: the human
// (Terraform-like) text, the versioned JSON of `plan -json` and `show -json`
// (whose document is package plan/jsonplan's), and markdown for pull-request
// comments; and the executor's events into a bounded log (events.go), a
// live screen on a terminal (events_live.go) or versioned JSON lines
// (events_json.go). A command chooses its view once, from its flags
// (ParseViewType, NewApply), and sends all of its output through it.
//
// Views only read the model. They never compute what a plan does: counts,
// totals and the "blocked" verdict come from the Plan itself, so the human and
// markdown renderers show exactly what the JSON says. Nothing else in meshwave
// prints a plan; commands pick a view and hand it the Plan and a writer.
// The text views show a wave's many steps of one kind as groups
// (groups.go): they count the steps they group, and the JSON lists every
// one of them.
// The markdown plan always fits one pull-request comment: a plan too long
// for it is summarized, deterministically, and says where the full plan is
// (markdown.go).
//
// Text read from files (plan sources, state files, saved plans, lock files)
// is untrusted: Printable makes its control characters visible, and every
// view and every command that prints such text passes it through Printable
// first, so a file cannot drive the user's terminal.
package views
