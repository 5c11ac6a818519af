to       = "1-28"
parallel = "four"
canary   = "demo-a"
