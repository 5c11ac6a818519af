// Package generate writes a plan from a snapshot of the cluster (meshwave
// generate): every namespace that uses the source revision, the gateways
// and revision tags on it, a canary wave first, then waves of a size or one
// per value of a namespace label, and the uninstall of the source at the
// end. What it cannot place is written as comments in the plan.
//
// It is pure, like plan: a Snapshot and Options in, HCL bytes out, laid out
// by hclwrite as `meshwave fmt` lays a plan out. Who uses a revision, which
// workloads a restart rolls and which Deployments are gateways are plan's
// rules (plan.RevisionUsersOf, plan.NotRollable, plan.IsGateway); this
// package only places what they find. It reads no cluster and no file.
package generate
