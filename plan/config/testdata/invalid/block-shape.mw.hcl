upgrade = {
  from = "1-26"
}

wave {
  namespaces = ["demo-a"]
}

gateway "a" "b" {}

rollback "now" {
  automatic = true
}
