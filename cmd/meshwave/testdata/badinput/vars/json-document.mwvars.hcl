{"to_revision": "1-28"}
