canary_namespaces = null
