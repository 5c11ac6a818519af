upgrade {
  from   = "1-26"
  to     = "default"
  flavor = "istio"
}

wave "canary" {
  namespaces = ["demo-a"]
}
