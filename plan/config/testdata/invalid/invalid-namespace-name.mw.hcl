upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

gateway "ingress" {
  namespace = "Istio-System"
}

wave "canary" {
  namespaces = ["demo_a", "demo-b"]
  exclude    = ["-x"]
}
