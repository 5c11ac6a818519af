// Package config owns the meshwave plan language: it decodes *.mw.hcl files
// (and their variables) into a Config, with diagnostics that point at the
// source.
//
// A plan is tested in four ways, each named for what it tests:
//
//   - input bounds (input_bounds.go, InputBounds): before parsing, the size
//     of the source itself: nesting, operator chains and string pieces a
//     parser would choke on;
//   - evaluation budget (eval_budget.go): while expressions are evaluated,
//     the size of each value and the work of the whole evaluation;
//   - values (values.go, the validate* methods): each decoded value against
//     its rule: names, revisions as the flavor spells them, selectors,
//     URLs, numbers within range;
//   - well-formedness (plan's wellformed.go, plan.Plan.WellFormed): not a
//     test of the language but of a computed plan read back from its JSON
//     form; it lives with the plan model.
//
// Each flavor the language knows is a file flavor_NAME.go, registered once
// in flavor.go. The package reads plan and var files, and knows nothing of
// the cluster or of the planner: plan imports it, never the reverse.
package config
