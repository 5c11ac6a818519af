# Every mistake in a plan is reported in one run, in file order.
upgrade {
  from   = "mesh.istio-system"
  to     = "mesh.istio-system"
  flavor = "backyards"
}

gateway "istio-ingressgateway" {
  namespace = "istio-system"
  ports     = [80]
}

wave "canary" {
  namespaces = ["demo-a"]
  timeout    = "ten minutes"
  approval   = true
}

wave "canary" {
  namespaces = ["demo-a"]
}

wave "rest" {
  namespaces = ["demo-b", "demo-a"]
  selector   = "app in (a,b"
}

finalize {
  uninstall_old = "yes"
}
