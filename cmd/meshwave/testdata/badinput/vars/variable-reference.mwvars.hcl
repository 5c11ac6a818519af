to_revision = var.from_revision
