locals {
  big = join(",", [for i in range(100000000) : tostring(i)])
}
upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "canary" {
  namespaces = ["demo-a"]
}
