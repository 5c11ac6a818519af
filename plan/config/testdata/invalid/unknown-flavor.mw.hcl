upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyard"
}

wave "canary" {
  namespaces = ["demo-a"]
}
