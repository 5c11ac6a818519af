# Upstream Istio 1.30 -> 1.31 with revisions and revision tags, as istioctl
# and Helm install Istio today: istiod-1-31 runs next to istiod-1-30
# (istioctl install --set revision=1-31). The tags move first, as recorded
# steps: namespaces labeled istio.io/rev=prod-stable, and through the default
# tag those labeled istio-injection=enabled, then only need their workloads
# restarted. The default tag also carries istiod-default-validator, so no
# webhook is left calling 1-30 once it is uninstalled.
#
# `make demo SCENARIO=istio` applies this plan to real istiod.

upgrade {
  from   = "1-30"
  to     = "1-31"
  flavor = "istio"
}

tag "prod-stable" {}
tag "default" {}

gateway "istio-ingressgateway" {
  namespace = "istio-ingress"
}

# One namespace on the revision label first.
wave "canary" {
  namespaces = ["shop"]
}

# Then the namespaces that follow the tags.
wave "rest" {
  namespaces   = ["tagged", "legacy"]
  max_parallel = 2
}

finalize {
  uninstall_old = true
}
