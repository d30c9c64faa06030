"""Entra ID: each new connection authenticates with a token from the credential, renewed before
it expires; no password in the DSN. The credential is a tiny real TokenCredential that hands out
the ephemeral server's password as its "token" (a stand-in for Azure, not for the database)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
import pytest
from azure.core.credentials import AccessToken

from mapperdb.client import Database, TokenSource
from mapperdb.platform import ENTRA_SCOPE
from tests.client.conftest import TENANT_A, App


@dataclass
class PasswordCredential:
    """azure.core's TokenCredential protocol: get_token(*scopes) -> AccessToken."""

    password: str
    lifetime_s: float
    calls: int = 0
    scopes: tuple[str, ...] = ()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        self.scopes = scopes
        return AccessToken(self.password, int(time.time() + self.lifetime_s))


def _passwordless(app: App) -> str:
    info = app.tcp_conninfo(with_password=False)
    assert "password" not in info
    return info + " sslmode=disable"  # the ephemeral server has no TLS; Azure gets 'require'


def _open_connections(db: Database, n: int) -> set[int]:
    """Hold n connections at once, so the pool must open n."""
    pids: set[int] = set()
    conns = [db._primary.pool.getconn() for _ in range(n)]
    try:
        for conn in conns:
            row = conn.execute("select pg_backend_pid()").fetchone()
            assert row is not None
            pids.add(row[0])
    finally:
        for conn in conns:
            db._primary.pool.putconn(conn)
    return pids


def test_a_long_lived_token_is_reused_across_new_connections(app: App) -> None:
    credential = PasswordCredential(app.password, lifetime_s=3600)
    with Database(_passwordless(app), credential=credential, pool_min=0, pool_max=3) as db:
        assert len(_open_connections(db, 3)) == 3
        with db.tenant(TENANT_A) as conn:
            assert conn.execute("select count(*) from mapper.tenant_configs").fetchone() == (1,)
    assert credential.calls == 1
    assert credential.scopes == (ENTRA_SCOPE,)


def test_a_token_near_expiry_is_renewed_for_each_new_connection(app: App) -> None:
    credential = PasswordCredential(app.password, lifetime_s=60)  # inside the 300 s margin
    with Database(_passwordless(app), credential=credential, pool_min=0, pool_max=3) as db:
        assert len(_open_connections(db, 3)) == 3
    assert credential.calls == 3


def test_the_token_is_what_authenticates(app: App) -> None:
    credential = PasswordCredential("not-the-password", lifetime_s=3600)
    with (
        Database(
            _passwordless(app), credential=credential, pool_min=0, pool_max=1, pool_timeout_s=0.5
        ) as db,
        pytest.raises(psycopg_pool.PoolTimeout),
        db.tenant(TENANT_A),
    ):
        pass
    assert credential.calls >= 1


def test_a_password_and_a_credential_are_refused(app: App) -> None:
    credential = PasswordCredential(app.password, lifetime_s=3600)
    with pytest.raises(ValueError, match="password"):
        Database(app.tcp_conninfo(), credential=credential)


def test_token_source_refreshes_before_expiry() -> None:
    now = [1000.0]

    class Fixed:
        calls = 0

        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            Fixed.calls += 1
            return AccessToken(f"t{Fixed.calls}", 1000 + 3600)

    source = TokenSource(Fixed(), refresh_margin_s=300, clock=lambda: now[0])
    assert source.token() == "t1"
    now[0] = 1000 + 3600 - 301
    assert source.token() == "t1"
    now[0] = 1000 + 3600 - 299
    assert source.token() == "t2"


def test_no_password_reaches_the_connection_string(app: App) -> None:
    credential = PasswordCredential(app.password, lifetime_s=3600)
    with Database(_passwordless(app), credential=credential, pool_min=0, pool_max=1) as db:
        with db.tenant(TENANT_A) as conn:
            assert isinstance(conn, psycopg.Connection)
        assert app.password not in db._primary.conninfo
