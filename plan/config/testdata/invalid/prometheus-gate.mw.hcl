upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}

wave "canary" {
  namespaces = ["demo-a"]

  prometheus {
    url   = "http://prometheus:9090"
    query = "up"
  }

  prometheus {
    url   = "http://prometheus:9090"
    query = " "
    min   = 10
    max   = 1
  }
}
