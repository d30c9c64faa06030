"""``mapperdb audit``: anchoring the audit chain outside the database.

``checkpoint`` copies every tenant's chain head into hash-chained (optionally HMAC-signed)
files; ``verify`` checks every chain in the database and against those files. See
docs/schema.md, "Audit chain" and "Threat model".
"""
