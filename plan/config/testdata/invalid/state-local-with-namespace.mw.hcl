upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
}

state {
  namespace = "meshwave"
  path      = ""
}
