approve = "maybe"
