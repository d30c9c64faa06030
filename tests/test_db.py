"""Connections: DSN sources, Entra ID tokens, clear one-line failures."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from mapperdb.db import Connector, describe, resolve_conninfo, wants_entra_token
from mapperdb.errors import ConfigError, EnvironmentProblem
from mapperdb.pg.ephemeral import EphemeralPostgres, free_port
from mapperdb.platform import ENTRA_SCOPE
from tests.conftest import Database


@dataclass
class AccessToken:
    token: str
    expires_on: int = 0


@dataclass
class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out the next token on each call."""

    tokens: list[str]
    scopes: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.tokens.pop(0))


def test_dsn_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
    assert resolve_conninfo("postgresql://from-flag/db") == "postgresql://from-flag/db"
    assert resolve_conninfo(None) == "postgresql://from-env/db"
    monkeypatch.delenv("DATABASE_URL")
    assert resolve_conninfo(None) == ""  # libpq reads PG* variables


def test_bad_dsn_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "not a = valid 'dsn")
    with pytest.raises(ConfigError, match="invalid connection string in DATABASE_URL"):
        resolve_conninfo(None)


def test_entra_only_for_azure_hosts_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("MAPPERDB_AUTH", raising=False)
    azure = "host=mapper-prod.postgres.database.azure.com user=ops@corp dbname=mapper"
    assert wants_entra_token(azure)
    assert not wants_entra_token(azure + " password=secret")
    assert not wants_entra_token("host=localhost user=me")
    monkeypatch.setenv("PGPASSWORD", "x")
    assert not wants_entra_token(azure)
    monkeypatch.setenv("MAPPERDB_AUTH", "entra")
    assert wants_entra_token("host=localhost user=me")
    monkeypatch.setenv("MAPPERDB_AUTH", "maybe")
    with pytest.raises(ConfigError, match="MAPPERDB_AUTH"):
        wants_entra_token(azure)


def test_entra_token_is_the_password_and_is_fetched_per_connection(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(db.admin_conninfo, autocommit=True) as conn:
        conn.execute("create role entra_user login password 'token-one'")
    monkeypatch.setenv("MAPPERDB_AUTH", "entra")
    credential = FakeCredential(["token-one", "token-two", "expired"])
    connector = Connector(
        f"host=127.0.0.1 port={db.pg.port} dbname={db.name} user=entra_user sslmode=disable",
        attempts=1,
        credential_factory=lambda: credential,
    )
    with connector.connect() as conn:
        assert conn.execute("select current_user").fetchone() == ("entra_user",)
    with psycopg.connect(db.admin_conninfo, autocommit=True) as conn:
        conn.execute("alter role entra_user password 'token-two'")  # the token rotated
    with connector.connect() as conn:
        assert conn.execute("select current_user").fetchone() == ("entra_user",)
    assert credential.scopes == [(ENTRA_SCOPE,), (ENTRA_SCOPE,)]
    with pytest.raises(EnvironmentProblem, match="password authentication failed") as info:
        connector.connect()
    assert "expired" not in info.value.message  # a token never reaches a message


def test_credential_failure_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoLogin:
        def get_token(self, *scopes: str) -> AccessToken:
            raise RuntimeError("DefaultAzureCredential failed to retrieve a token\nmore detail")

    monkeypatch.setenv("MAPPERDB_AUTH", "entra")
    connector = Connector("host=127.0.0.1 user=x", credential_factory=NoLogin)
    with pytest.raises(
        EnvironmentProblem,
        match=r"^no Entra ID token for x@127\.0\.0\.1:5432/x: "
        r"DefaultAzureCredential failed to retrieve a token; sign in",
    ):
        connector.connect()


def test_unreachable_server_is_exit_2_one_line(tmp_path: Path) -> None:
    (tmp_path / "0001_a.up.sql").write_text("select 1;")
    (tmp_path / "0001_a.down.sql").write_text("select 1;")
    dsn = f"postgresql://nobody:secret-pw@127.0.0.1:{free_port()}/x?connect_timeout=2"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mapperdb",
            "migrate",
            "status",
            "--dsn",
            dsn,
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "mapperdb: error: cannot connect to nobody@127.0.0.1:"
    )
    assert "tried 4 times" in lines[0] and "secret-pw" not in result.stderr


def test_transient_failure_is_retried(pg: EphemeralPostgres) -> None:
    attempts = []

    class Flaky(Connector):
        def _params(self) -> dict[str, object]:
            attempts.append(1)
            if len(attempts) < 3:  # the first two attempts hit a port with nothing listening
                self.conninfo = f"host=127.0.0.1 port={free_port()} user=mapperadmin dbname=mapper"
            else:
                self.conninfo = pg.admin_conninfo()
            return super()._params()

    with Flaky(pg.admin_conninfo(), backoff_s=0.01).connect() as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert len(attempts) == 3


def test_permanent_failures_are_not_retried_and_say_how_often(db: Database) -> None:
    missing = Connector(db.pg.conninfo("no_such_database", "mapperadmin"), backoff_s=5)
    with pytest.raises(EnvironmentProblem) as info:
        missing.connect()  # would take seconds if retried with this backoff
    assert 'database "no_such_database" does not exist' in info.value.message
    assert "tried" not in info.value.message


def test_messages_name_the_libpq_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGUSER", "ops")
    monkeypatch.setenv("PGDATABASE", "mapper")
    monkeypatch.setenv("PGHOST", "db.internal")
    assert describe("") == "ops@db.internal:5432/mapper"
