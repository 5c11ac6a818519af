to_revision = file("/etc/passwd")
