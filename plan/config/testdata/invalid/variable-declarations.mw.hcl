variable "parallel" {
  type    = number
  default = "several"
}

variable "parallel" {
  default = 1
}

variable "namespaces" {
  type    = list(strin)
  default = ["demo-a"]
}

variable "from" {
  default = var.parallel
}

upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces   = ["demo-a"]
  max_parallel = var.parallel
}
