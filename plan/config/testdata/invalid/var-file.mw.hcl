variable "to" {
  type    = string
  default = "1-27"
}

variable "parallel" {
  type    = number
  default = 1
}

upgrade {
  from   = "1-26"
  to     = var.to
  flavor = "istio"
}

wave "canary" {
  namespaces   = ["demo-a"]
  max_parallel = var.parallel
}
