# The same plan for every environment: the revisions and the namespaces come
# from variables. validate and plan use the defaults below; pass
# -var-file staging.mwvars.hcl (or -var, or MESHWAVE_VAR_NAME) to change them.

variable "from_revision" {
  type        = string
  default     = "1-26"
  description = "The revision the data plane leaves."
}

variable "to_revision" {
  type        = string
  default     = "1-27"
  description = "The revision the data plane moves to."
}

variable "canary_namespaces" {
  type        = list(string)
  default     = ["shop-dev"]
  description = "Namespaces that move first, alone."
}

variable "team" {
  type        = string
  default     = "Shop"
  description = "The team whose namespaces follow the canary (label mesh.example.com/team)."
}

variable "approve" {
  type        = bool
  default     = false
  description = "Whether a person approves before the rest of the namespaces move."
}

locals {
  team_label = lower(var.team)
  health_url = format("http://storefront.%s.svc:8080/healthz", var.canary_namespaces[0])
}
