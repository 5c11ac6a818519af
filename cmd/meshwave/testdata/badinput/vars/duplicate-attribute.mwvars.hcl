to_revision = "1-28"
to_revision = "1-29"
