canary_namespaces = "shop-dev"
