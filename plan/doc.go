// Package plan owns the meshwave plan language and the plan model.
//
// It decodes *.mw.hcl files into a Config (with diagnostics that point at the
// source), and computes a Plan — pre-upgrade checks and ordered, idempotent
// steps — from a Config and a Snapshot of the cluster.
//
// The package is pure: it imports hcl/v2, go-cty and apimachinery's label
// parsing, never client-go. Reading the cluster is providers/kube's job;
// running steps is the executor's.
package plan
