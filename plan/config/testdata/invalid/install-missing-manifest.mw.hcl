upgrade {
  from   = "1-30"
  to     = "1-31"
  flavor = "istio"
}

install {
  manifest = "does-not-exist.yaml"
}

install {
  manifest = "twice.yaml"
}

wave "all" {
  namespaces = ["shop"]
}
