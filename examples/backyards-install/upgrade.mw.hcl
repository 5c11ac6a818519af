# Backyards 1.3 -> 1.4 moves the mesh from Istio 1.6 to Istio 1.7, from a
# cluster that runs only the 1.6 control plane (the Istio resource mesh in
# istio-system).
#
# The plan does the whole canary flow of the guide: it installs the 1.7
# control plane from its Istio resource (cp-v17x.yaml, what `backyards
# install -a --istio-cr-file` takes) and waits until the operator made it
# Available and its istiod is Ready; then the gateway, demo-a alone, checked
# before demo-b follows, and the 1.6 control plane removed at the end.

variable "health_url" {
  type        = string
  default     = "http://app-a.demo-a.svc.cluster.local:8080/"
  description = "What must answer 200 once demo-a runs on Istio 1.7."
}

variable "canary_soak" {
  type        = string
  default     = "10m"
  description = "How long demo-a runs on Istio 1.7 before anyone may approve the rest."
}

upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

# The new control plane, first. A rollback of the install deletes the Istio
# resource, and the operator removes what it installed.
install {
  manifest = "cp-v17x.yaml"
}

# The MeshGateway moves to the new control plane before any application.
gateway "istio-ingressgateway" {
  namespace = "istio-system"
}

# The canary: demo-a is relabeled and restarted alone. Its app must answer,
# then it runs for canary_soak (ten minutes by default), then a person
# approves the rest (meshwave apply -approve canary).
wave "canary" {
  namespaces = ["demo-a"]
  timeout    = "10m"

  http {
    url           = var.health_url
    expect_status = 200
    retries       = 5
    interval      = "10s"
  }

  pause    = var.canary_soak
  approval = true
}

# Everything else the old control plane still serves.
wave "rest" {
  namespaces   = ["demo-b"]
  max_parallel = 2
  timeout      = "15m"
}

# A wave that fails moves its namespaces back to mesh.istio-system.
rollback {
  automatic = true
}

# Once no pod uses mesh.istio-system, delete its Istio resource.
finalize {
  uninstall_old = true
}
