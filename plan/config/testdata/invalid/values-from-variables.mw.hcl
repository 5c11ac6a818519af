variable "soak" {
  type    = string
  default = "10m"
}

variable "canary" {
  type    = list(string)
  default = ["demo-a"]
}

locals {
  health = "app-a.${var.canary[0]}.svc:8080"
}

upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = var.canary
  pause      = var.soak

  http {
    url = local.health
  }
}
