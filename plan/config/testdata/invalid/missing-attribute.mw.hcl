upgrade {
  from   = "mesh.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
}
