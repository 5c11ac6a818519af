// Package bench is the cluster benchmark of `make bench` (issue 16): on the
// real local control plane (testenv) with meshsim's Backyards scenario, for
// each number of namespaces N and each pod start regime, it generates N
// namespaces × 3 Deployments × 2 replicas on the old revision and measures,
// in one run and in this order, each measurement moving the whole set to
// the other revision (the same work either way):
//
//   - meshwave plan: wall time and peak RSS of the binary; the API requests
//     of the same plan made in-process (Observe and Compute through a
//     counting transport), against one paginated LIST per resource type it
//     reads;
//   - meshwave apply -auto-approve of one wave selecting all N namespaces
//     (max_parallel = 1000), as a child process: wall time, peak RSS, lines
//     of output without a terminal; then the same apply again on the
//     finished state;
//   - the bare client baseline B (baseline.go), written here with client-go
//     alone, back to the old revision;
//   - a resume of a half-done state: apply killed with SIGKILL once half its
//     restarts are done, applied again, and proven to run no step the first
//     run finished (events, the state's attempts, ReplicaSets per Deployment);
//   - the guide's manual procedure A with kubectl (manual.go), at small N;
//
// and writes the figures, the ratios and the machine into
// docs/benchmarks.md between markers (report.go).
//
// Every figure comes from the run that writes it; a case that failed says
// so instead of showing numbers. A case's measurements share one set of
// namespaces (runCase says why); it is deleted, and waited for, before the
// next case creates its own.
//
// The package must not change meshwave's behaviour: it runs the built
// binary, and uses providers/kube only to count a plan's requests, as
// test/e2e/plan does. Baseline B and procedure A use no meshwave code.
package bench
