upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]

  http {
    expect_status = 200
  }

  http {
    url           = "app-a.demo-a.svc:8080/healthz"
    expect_status = 700
    retries       = 0
  }
}
