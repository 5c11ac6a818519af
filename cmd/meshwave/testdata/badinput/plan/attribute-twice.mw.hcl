upgrade {
  from   = "1-26"
  from   = "1-25"
  to     = "1-27"
  flavor = "istio"
}
wave "canary" {
  namespaces = ["demo-a"]
}
