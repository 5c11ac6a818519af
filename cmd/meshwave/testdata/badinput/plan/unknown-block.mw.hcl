upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
bogus "x" {
}
wave "canary" {
  namespaces = ["demo-a"]
}
