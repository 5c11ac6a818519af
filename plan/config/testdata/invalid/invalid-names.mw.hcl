upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

gateway "Ingress Gateway" {}

wave "Canary_Wave" {
  namespaces = ["demo-a"]
}
