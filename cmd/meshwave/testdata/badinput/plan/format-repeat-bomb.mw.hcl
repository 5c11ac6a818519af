locals {
  s = format("%0999999999d", 1)
}
upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "canary" {
  namespaces = ["demo-a"]
}
