# Values for the staging cluster:
#   meshwave plan -var-file staging.mwvars.hcl
from_revision     = "1-26"
to_revision       = "1-27-1"
canary_namespaces = ["shop-staging", "cart-staging"]
team              = "Shop"
approve           = true
