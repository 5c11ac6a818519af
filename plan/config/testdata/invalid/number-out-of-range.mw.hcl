upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces   = ["demo-a"]
  max_parallel = 0
}

wave "rest" {
  namespaces   = ["demo-b"]
  max_parallel = 1.5
}
