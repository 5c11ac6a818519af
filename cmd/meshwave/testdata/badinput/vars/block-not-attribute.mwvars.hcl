to_revision {
  value = "1-28"
}
