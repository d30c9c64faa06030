"""What the client raises on purpose; database errors themselves stay psycopg's."""

from __future__ import annotations

from mapperdb.errors import EnvironmentProblem, MapperdbError


class CircuitOpen(EnvironmentProblem):
    """The endpoint failed repeatedly; calls fail fast until the breaker's probe succeeds."""


class OutcomeUnknown(MapperdbError):
    """The connection was lost while a write committed: it may or may not have taken effect.

    Not retried unless the caller marked the work idempotent; the caller must find out (for
    example by reading the row back) before writing again."""


class SessionNotClean(EnvironmentProblem):
    """``mapper.enter_tenant()`` still refuses a session after ``discard all``: a default of
    the login or the database (``ALTER ROLE ... SET``) gives every session a tenant or role."""


class DecryptionFailed(MapperdbError):
    """The ciphertext does not verify under this tenant, record and key (wrong context or
    tampered bytes)."""


class UnknownDataKey(MapperdbError):
    """No data key of this tenant has the version stored beside the ciphertext."""
