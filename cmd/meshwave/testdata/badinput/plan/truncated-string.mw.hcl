upgrade {
  from = "1-2