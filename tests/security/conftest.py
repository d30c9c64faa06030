"""Fixtures of the security tests: the schema tests' logins, speakers and tenants."""

from tests.schema.schema_helpers import logins, speak, two_tenants

__all__ = ["logins", "speak", "two_tenants"]
