upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}

wave "frontends" {
  namespaces = ["web", "shop"]
  exclude    = ["shop"]
}
