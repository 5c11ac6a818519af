upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]

  command {
    argv = []
  }

  command {
    timeout = "1m"
  }
}
