upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
  timeout    = "10 minutes"
  pause      = "5"

  http {
    url      = "http://app-a.demo-a.svc:8080/"
    interval = "1d"
  }
}
