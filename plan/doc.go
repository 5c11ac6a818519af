// Package plan owns the plan model and the planner.
//
// It computes a Plan — pre-upgrade checks and ordered, idempotent steps —
// from a Config (the decoded plan language, package plan/config) and a
// Snapshot of the cluster, by the Istio rules (istio_rules.go) and the rules
// of the upgrade's flavor (FlavorRules).
//
// The package is pure: it imports its language (plan/config) and
// apimachinery's label and version parsing, never client-go. Reading the cluster is providers/kube's job;
// running steps is the executor's.
package plan
