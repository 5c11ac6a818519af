upgrade {
  from   = "mesh.istio-system"
  to     = "cp-v17x.istio-system"
  flavor = "backyards"
}

wave "canary" {
  namespaces = ["demo-a"]
}

rollback {}

rollback {
  automatic = true
}

finalize {
  uninstall_old = true
}

finalize {
  uninstall_old = false
}
