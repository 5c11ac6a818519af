variable "to" {
  type        = string
  description = "The target revision."
}

upgrade {
  from   = "1-26"
  to     = var.to
  flavor = "istio"
}

wave "canary" {
  namespaces = ["demo-a"]
}
