upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

gateway "istio-ingressgateway" {
  namespace: "istio-system"
}

wave "canary" {
  namespaces = ["demo-a" "demo-b"]
}
