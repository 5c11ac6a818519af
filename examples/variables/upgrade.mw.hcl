upgrade {
  from   = var.from_revision
  to     = var.to_revision
  flavor = "istio"
}

wave "canary" {
  namespaces = var.canary_namespaces

  http {
    url           = local.health_url
    body_contains = "ok"
  }
}

wave "team" {
  selector = "mesh.example.com/team=${local.team_label}"
  exclude  = var.canary_namespaces
  timeout  = "30m"
  approval = var.approve
}

rollback {
  automatic = true
}
