upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

gateway "istio-ingressgateway" {
  namespace = "istio-system"
}

gateway "istio-ingressgateway" {}

gateway "istio-ingressgateway" {
  namespace = "istio-ingress"
}

wave "all" {
  namespaces = ["demo-a"]
}
