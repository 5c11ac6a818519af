upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}

wave "frontends" {
  selector = "tier in (frontend,"
}

wave "backends" {
  selector = "tier=back end"
}
