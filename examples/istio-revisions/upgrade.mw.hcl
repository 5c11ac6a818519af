# Upstream Istio 1.26 -> 1.27 with revisions: istiod-1-27 is installed next
# to istiod-1-26 (istioctl install --set revision=1-27), and namespaces move
# by relabeling istio.io/rev=1-26 to istio.io/rev=1-27.

upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}

gateway "istio-ingressgateway" {
  namespace = "istio-ingress"
}

# One namespace first, watched through its error rate.
wave "canary" {
  namespaces = ["bookinfo"]

  prometheus {
    url   = "http://prometheus.istio-system.svc:9090"
    query = "sum(rate(istio_requests_total{destination_workload_namespace=\"bookinfo\",response_code=~\"5..\"}[5m]))"
    max   = 0.1
  }

  pause = "15m"
}

# Then every namespace of the frontend and backend tiers, except the one
# whose owners move it themselves.
wave "tiers" {
  selector     = "mesh.example.com/tier in (frontend, backend)"
  exclude      = ["legacy-billing"]
  max_parallel = 3
  timeout      = "20m"

  command {
    argv    = ["./smoke-test.sh", "--all-tiers"]
    timeout = "3m"
  }

  approval = true
}

rollback {
  automatic = true
}

finalize {
  uninstall_old = true
}
