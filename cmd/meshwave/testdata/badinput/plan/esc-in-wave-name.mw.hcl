upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "canary[31m" {
  namespaces = ["demo-a"]
}
