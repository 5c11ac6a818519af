upgrade {
  from   = "1-30"
  to     = "1-31"
  flavor = "istio"
}

# A pull request's plan must not make meshwave read (and show) a file of
# the machine that runs it.
install {
  manifest = "../../../../../etc/passwd"
}

wave "all" {
  namespaces = ["shop"]
}
