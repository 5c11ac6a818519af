upgrade {
  from   = "1-26"
  to     = "1-27"
  flavor = "istio"
}

wave "everything" {
  selector = ""
}
