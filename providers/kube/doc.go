// Package kube is meshwave's only Kubernetes client. It observes the cluster
// into a plan.Snapshot and performs, verifies and rolls back each plan step
// (relabel a namespace, restart a workload, move a gateway, uninstall a
// control plane) for the executor.
//
// It is the only package that imports client-go. Every list is paginated and
// cluster-wide, so the number of API requests a plan makes does not grow with
// the number of namespaces. Every mutation is idempotent given the step's
// recorded values.
package kube
