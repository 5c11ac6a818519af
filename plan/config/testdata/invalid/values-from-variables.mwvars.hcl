soak   = "ten minutes"
canary = ["demo_a"]
