// Package executor runs a plan's steps in order, records every transition in
// a locked state file, resumes an interrupted run where it stopped, runs the
// gates between waves and rolls waves back.
//
// It knows no Kubernetes types: steps reach the cluster through the Provider
// interface, which providers/kube implements. It never prints: it reports
// Events to an Observer, and the views of cmd/meshwave turn them into text
// or JSON lines. It never locks: the caller holds the store's lock while it
// runs.
//
// The state it records lives beside the plan, in three packages kept apart
// like Terraform's: states (the model), states/statefile (the versioned JSON
// encoding) and states/statemgr (the locked, atomically written file).
// docs/state-format.md describes the files and the event lines.
package executor
