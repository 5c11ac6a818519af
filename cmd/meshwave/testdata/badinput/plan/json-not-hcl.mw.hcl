{"upgrade": {"from": "1-26"}}
