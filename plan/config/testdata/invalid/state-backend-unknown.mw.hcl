upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
}

state {
  backend = "s3"
  bucket  = "upgrades"
}
