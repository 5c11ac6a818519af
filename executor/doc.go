// Package executor runs a plan's steps in order, records every transition in
// a locked state file, resumes an interrupted run where it stopped, runs the
// gates between waves and rolls waves back.
//
// It knows no Kubernetes types: steps reach the cluster through the Provider
// interface, which providers/kube implements. It never prints: it reports
// Events to an observer, and cmd turns them into output.
package executor
