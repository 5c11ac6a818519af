gateway "istio-ingressgateway" {
  namespace = "istio-system"
}

wave "canary" {
  namespaces = ["demo-a"]
}
