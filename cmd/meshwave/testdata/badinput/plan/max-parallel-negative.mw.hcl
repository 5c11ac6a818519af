upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "a" {
  namespaces = ["x"]
  max_parallel = -1
}
