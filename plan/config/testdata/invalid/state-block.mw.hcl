upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
}

# The kubernetes backend needs a namespace; a path is the local backend's.
state {
  backend = "kubernetes"
  name    = "Upgrade_State"
  path    = "meshwave.state.json"
}

state {
  backend = "local"
}
