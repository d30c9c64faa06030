"""Connections: where the DSN comes from, Entra ID tokens for Azure, retries on transient errors.

DSN precedence (ARCHITECTURE.md): ``--dsn``, else ``DATABASE_URL``, else libpq's ``PG*``
variables. For an Azure host and no password anywhere, the password is an Entra ID access
token from azure-identity, fetched for every new connection (tokens live about an hour; the
credential caches and refreshes them).
"""

from __future__ import annotations

import getpass
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg.conninfo import conninfo_to_dict

from mapperdb.errors import ConfigError, EnvironmentProblem
from mapperdb.platform import AZURE_HOST_SUFFIXES, ENTRA_SCOPE

# Server-reported errors that will not go away by retrying: bad credentials, missing database,
# missing role, no permission to connect. libpq often reports them without a SQLSTATE, so the
# message is checked too.
PERMANENT_SQLSTATES = frozenset({"28P01", "28000", "3D000", "42501", "08004"})
PERMANENT_TEXT = (
    "authentication failed",
    "no password supplied",
    "does not exist",
    "permission denied",
    "no pg_hba.conf entry",
)
AUTH_ENV = "MAPPERDB_AUTH"  # auto | password | entra


class TokenCredential(Protocol):
    """What azure-identity's credentials offer (``DefaultAzureCredential`` and friends)."""

    def get_token(self, *scopes: str) -> Any: ...


def resolve_conninfo(dsn: str | None) -> str:
    """``--dsn``, else ``DATABASE_URL``, else empty so that libpq reads ``PG*`` variables."""
    conninfo = dsn or os.environ.get("DATABASE_URL") or ""
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        source = "--dsn" if dsn else "DATABASE_URL"
        raise ConfigError(f"invalid connection string in {source}: {first_line(exc)}") from None
    return conninfo


def describe(conninfo: str) -> str:
    """``user@host:port/dbname`` for messages: never the password."""
    params = conninfo_to_dict(conninfo)
    host = params.get("host") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    user = params.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user
    return f"{user}@{host}:{port}/{dbname}"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def wants_entra_token(conninfo: str) -> bool:
    mode = os.environ.get(AUTH_ENV, "auto")
    if mode not in ("auto", "password", "entra"):
        raise ConfigError(f"{AUTH_ENV}={mode!r} is not one of auto, password, entra")
    if mode != "auto":
        return mode == "entra"
    params = conninfo_to_dict(conninfo)
    if params.get("password") or os.environ.get("PGPASSWORD"):
        return False
    host = str(params.get("host") or os.environ.get("PGHOST") or "")
    return any(h.strip().endswith(AZURE_HOST_SUFFIXES) for h in host.split(","))


def default_credential() -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    credential: TokenCredential = DefaultAzureCredential()
    return credential


@dataclass
class Connector:
    """Opens connections to one database; the single place that knows how to authenticate."""

    conninfo: str
    attempts: int = 4
    backoff_s: float = 0.5
    application_name: str = "mapperdb"
    credential_factory: Callable[[], TokenCredential] = default_credential
    _credential: TokenCredential | None = field(default=None, repr=False)

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"application_name": self.application_name}
        if wants_entra_token(self.conninfo):
            if self._credential is None:
                self._credential = self.credential_factory()
            try:
                params["password"] = self._credential.get_token(ENTRA_SCOPE).token
            except Exception as exc:  # azure-identity raises many types; all mean "no token"
                raise EnvironmentProblem(
                    f"no Entra ID token for {describe(self.conninfo)}: {first_line(exc)}; "
                    "sign in (az login, managed identity) or give a password in the DSN"
                ) from None
            # Azure requires TLS; say so unless the DSN or PGSSLMODE already chose.
            if "sslmode" not in conninfo_to_dict(self.conninfo) and not os.environ.get("PGSSLMODE"):
                params["sslmode"] = "require"
        return params

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        """Connect, retrying transient failures with jittered exponential backoff."""
        last: psycopg.OperationalError | None = None
        tried = 0
        for attempt in range(self.attempts):
            tried += 1
            params = self._params()  # a fresh token for every attempt
            try:
                return psycopg.connect(self.conninfo, autocommit=autocommit, **params)
            except psycopg.OperationalError as exc:
                last = exc
                if exc.sqlstate in PERMANENT_SQLSTATES or _is_permanent(exc):
                    break
                if attempt + 1 < self.attempts:
                    time.sleep(random.uniform(0, self.backoff_s * 2**attempt))  # noqa: S311
        assert last is not None
        tries = "" if tried == 1 else f" (tried {tried} times)"
        raise EnvironmentProblem(
            f"cannot connect to {describe(self.conninfo)}{tries}: {first_line(last)}; "
            "check --dsn, DATABASE_URL or the PG* variables"
        )


def _is_permanent(exc: psycopg.OperationalError) -> bool:
    text = str(exc)
    return any(fragment in text for fragment in PERMANENT_TEXT)
