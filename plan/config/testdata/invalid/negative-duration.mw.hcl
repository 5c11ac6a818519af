upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
  timeout    = "0s"
  pause      = "-5m"

  command {
    argv    = ["./check.sh"]
    timeout = "-1s"
  }
}
