upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "linkerd"
}
wave "canary" {
  namespaces = ["demo-a"]
}
