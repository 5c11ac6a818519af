locals {
  big = [for i in range(1024) : [for j in range(1024) : [for k in range(1024) : "${i}-${j}-${k}"]]]
}
upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "canary" {
  namespaces = ["demo-a"]
}
