variable "canary_namespace" {
  type    = string
  default = "demo-a"
}

upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = [var.canary_namespaces]
}

wave "rest" {
  namespaces = [var.other]
}
