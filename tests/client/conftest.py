"""Fixtures of the client tests: a login member of mapper_app (the service's identity), two
tenants, and a real redis-server on a private unix socket."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import Database

APP_USER = "client_app"
TENANT_A = uuid.UUID("aaaaaaaa-0000-4000-8000-0000000000c1")
TENANT_B = uuid.UUID("bbbbbbbb-0000-4000-8000-0000000000c2")
KEK_URI = "https://kv-mapper-test.vault.azure.net/keys/tenant-kek"


@dataclass(frozen=True)
class App:
    """The service's login on one test database."""

    db: Database
    user: str
    password: str

    @property
    def conninfo(self) -> str:
        """Over the unix socket (trust)."""
        return self.db.conninfo(self.user)

    def tcp_conninfo(self, *, with_password: bool = True) -> str:
        """Over TCP, where the server asks for a password (scram-sha-256)."""
        info = self.db.conninfo(self.user, password=self.password)
        if with_password:
            return info
        return " ".join(p for p in info.split() if not p.startswith("password="))


@pytest.fixture(scope="session")
def app_password(pg: EphemeralPostgres, template_db: str) -> str:
    password = secrets.token_urlsafe(18)
    with psycopg.connect(pg.admin_conninfo("postgres"), autocommit=True) as conn:
        exists = conn.execute("select from pg_roles where rolname = %s", (APP_USER,)).fetchone()
        verb = "alter" if exists is not None else "create"
        conn.execute(
            sql.SQL(verb + " role {} login password {}").format(
                sql.Identifier(APP_USER), sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("grant mapper_app to {}").format(sql.Identifier(APP_USER)))
    return password


@pytest.fixture
def app(db: Database, app_password: str) -> App:
    """Two tenants exist, each with its configuration row, written as the app."""
    login = App(db, APP_USER, app_password)
    with psycopg.connect(login.conninfo) as conn:
        for n, tenant in enumerate((TENANT_A, TENANT_B)):
            with conn.transaction():
                conn.execute("select set_config('app.tenant_id', %s, true)", (str(tenant),))
                conn.execute(
                    "insert into mapper.tenant_configs (tenant_id, name, key_vault_key_uri) "
                    "values (%s, %s, %s)",
                    (tenant, f"Client test {n}", KEK_URI),
                )
    return login


def superuser(db: Database) -> psycopg.Connection[tuple[object, ...]]:
    """Only to do what an operator or a failure does to a session: terminate it."""
    return psycopg.connect(db.superuser_conninfo, autocommit=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A real redis-server on a private unix socket, no TCP, removed afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is missing: run ./bin/setup (apt-get install redis-server)",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="mapperdb-redis-"))
    socket = root / "redis.sock"
    proc = subprocess.Popen(
        [
            binary,
            "--port", "0",
            "--unixsocket", str(socket),
            "--unixsocketperm", "700",
            "--dir", str(root),
            "--save", "",
            "--appendonly", "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"unix://{socket}"
        client = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        else:
            pytest.fail("redis-server did not start", pytrace=False)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
