variable "x" {
  type    = number
  default = "three"
}
upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}
wave "canary" {
  namespaces = ["demo-a"]
}
