locals {
  a = local.b
  b = "${local.a}-x"
  c = "ok"
}

upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = [local.a, local.c]
}
