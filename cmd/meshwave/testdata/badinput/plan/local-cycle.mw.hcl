locals {
  a = local.b
  b = local.a
}
upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "canary" {
  namespaces = ["demo-a"]
}
