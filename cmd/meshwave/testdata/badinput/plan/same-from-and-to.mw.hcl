upgrade {
  from   = "1-27"
  to     = "1-27"
  flavor = "istio"
}
wave "canary" {
  namespaces = ["demo-a"]
}
