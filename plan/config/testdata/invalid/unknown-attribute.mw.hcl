upgrade {
  from    = "mesh.istio-system"
  to      = "cp-v17x.istio-system"
  flavor  = "backyards"
  version = "1.7.0"
}

wave "canary" {
  namespaces  = ["demo-a"]
  parallelism = 2
}
