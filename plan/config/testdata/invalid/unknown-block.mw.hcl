upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

waves "canary" {
  namespaces = ["demo-a"]
}

wave "rest" {
  namespaces = ["demo-b"]

  smoke_test {
    argv = ["./smoke.sh"]
  }
}
