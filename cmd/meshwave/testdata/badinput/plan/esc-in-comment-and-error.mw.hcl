# ]0;owned
upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "a" {
  namespaces = ["x"]
  bogus = "[2J"
}
