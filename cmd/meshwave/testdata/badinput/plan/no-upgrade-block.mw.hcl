wave "canary" {
  namespaces = ["demo-a"]
}
