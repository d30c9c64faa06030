"""Fixtures of the schema tests (defined in schema_helpers, shared by every test module)."""

from tests.schema.schema_helpers import logins, speak, two_tenants

__all__ = ["logins", "speak", "two_tenants"]
