# The plan that examples/ci/meshwave.yml reviews in pull requests and applies
# after merge: upstream Istio 1.26 -> 1.27 with revisions. Copy it to the
# directory the workflow's MESHWAVE_DIR names (upgrade/ by default).
#
# In CI the state must outlive the runner: it is kept in the cluster with the
# Kubernetes state backend (a Secret, locked by a Lease), so the plan job and
# the apply job after merge read, lock and update the same state, and apply
# can check that the saved plan still matches it. Whoever is on call resumes
# an interrupted apply from their own machine with the same plan.
state {
  backend   = "kubernetes"
  namespace = "istio-system"
  name      = "meshwave-upgrade-1-27"
}

upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}

gateway "istio-ingressgateway" {
  namespace = "istio-ingress"
}

wave "canary" {
  namespaces = ["bookinfo"]
  pause      = "10m"
}

# A person approves the rest after looking at the canary: apply stops here
# (exit 1, state saved) until the workflow is run again with approve=tiers.
wave "tiers" {
  selector     = "mesh.example.com/tier in (frontend, backend)"
  max_parallel = 5
  timeout      = "30m"
  approval     = true
}

rollback {
  automatic = true
}

finalize {
  uninstall_old = true
}
