upgrade {
  from   = "Mesh.istio-system"
  to     = "cp-v17x.istio_system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
}
