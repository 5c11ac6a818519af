upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

gateway "istio-ingressgateway" {}

rollback {
  automatic = maybe
}
