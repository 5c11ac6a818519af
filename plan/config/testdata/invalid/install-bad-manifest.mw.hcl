upgrade {
  from   = "1-30"
  to     = "1-31"
  flavor = "istio"
}

install {
  manifest = "install-bad-manifest.yaml"
}

wave "all" {
  namespaces = ["shop"]
}
