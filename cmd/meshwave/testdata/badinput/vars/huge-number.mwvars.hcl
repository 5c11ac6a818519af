approve = 1e99999
