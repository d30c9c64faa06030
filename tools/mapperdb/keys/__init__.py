"""``mapperdb keys``: the tenant data keys of envelope encryption (rotation)."""
