upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

install {
  manifest = "cp-v17x.yaml"
}

wave "all" {
  namespaces = ["shop"]
}
