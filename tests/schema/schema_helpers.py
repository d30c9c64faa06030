"""Helpers and fixtures for the schema tests: login users that are members of the group roles,
tenants with rows in every tenant table, and helpers to speak as a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import Database

# login user -> group role; the users exist cluster-wide, like people and services on Azure.
LOGINS = {
    "app_user": "mapper_app",
    "readonly_user": "mapper_readonly",
    "auditor_user": "mapper_auditor",
}
TENANT_A = uuid.UUID("aaaaaaaa-0000-4000-8000-00000000000a")
TENANT_B = uuid.UUID("bbbbbbbb-0000-4000-8000-00000000000b")
KEY_VERSION = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def logins(pg: EphemeralPostgres, template_db: str) -> dict[str, str]:
    """Creates the login users once per session (after the roles exist)."""
    with psycopg.connect(pg.admin_conninfo("postgres"), autocommit=True) as conn:
        for user, group in LOGINS.items():
            exists = conn.execute("select from pg_roles where rolname = %s", (user,)).fetchone()
            if exists is None:
                conn.execute(
                    sql.SQL("create role {} login in role {}").format(
                        sql.Identifier(user), sql.Identifier(group)
                    )
                )
    return LOGINS


@dataclass(frozen=True)
class Speaker:
    """Connections to one test database as the real roles."""

    db: Database

    def connect(self, user: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.db.conninfo(user), autocommit=False)

    def app(self) -> psycopg.Connection[Any]:
        return self.connect("app_user")

    def readonly(self) -> psycopg.Connection[Any]:
        return self.connect("readonly_user")

    def auditor(self) -> psycopg.Connection[Any]:
        return self.connect("auditor_user")

    def superuser(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.db.superuser_conninfo, autocommit=False)

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.db.admin_conninfo, autocommit=False)


@pytest.fixture
def speak(db: Database, logins: dict[str, str]) -> Speaker:
    return Speaker(db)


@contextmanager
def tenant(conn: psycopg.Connection[Any], tenant_id: uuid.UUID | str | None) -> Iterator[Any]:
    """One transaction with the tenant context set the supported way (set_config, local)."""
    with conn.transaction(), conn.cursor() as cur:
        if tenant_id is not None:
            cur.execute("select set_config('app.tenant_id', %s, true)", (str(tenant_id),))
        yield cur


def add_tenant(conn: psycopg.Connection[Any], tenant_id: uuid.UUID, name: str, **cols: Any) -> None:
    values = {
        "tenant_id": tenant_id,
        "name": name,
        "key_vault_key_uri": f"https://kv-{name}.vault.azure.net/keys/tenant-key",
        "allowed_detector_types": ["pii", "toxicity"],
        **cols,
    }
    query = sql.SQL("insert into mapper.tenant_configs ({}) values ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    with tenant(conn, tenant_id) as cur:
        cur.execute(query, list(values.values()))


STORAGE_COLUMNS = (
    "tenant_id, created_at, source_data_hash, detector_type, taxonomy_labels, confidence_score, "
    "model_version, correlation_id, azure_region, payload, payload_key_version"
)


def storage_row(tenant_id: uuid.UUID, n: int, created_at: str = "now") -> tuple[Any, ...]:
    return (
        tenant_id,
        created_at,
        f"{n:064x}",
        "pii",
        ["PII.Contact.Email"],
        0.5,
        "v1.0.0",
        f"corr-{n}",
        "westeurope",
        b"\x01\x02ciphertext",
        KEY_VERSION,
    )


def add_rows(cur: psycopg.Cursor[Any], tenant_id: uuid.UUID, count: int = 3) -> None:
    """A few rows in every time-series tenant table, in the current transaction."""
    cur.executemany(
        f"insert into mapper.storage_records ({STORAGE_COLUMNS}) "
        "values (%s, %s::timestamptz, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [storage_row(tenant_id, n) for n in range(count)],
    )
    cur.executemany(
        "insert into mapper.detector_executions "
        "(tenant_id, detector_type, status, finished_at, error_code, correlation_id) "
        "values (%s, 'pii', %s, now(), %s, %s)",
        [
            (tenant_id, "failed" if n == 0 else "succeeded", "TIMEOUT" if n == 0 else None, f"c{n}")
            for n in range(count)
        ],
    )
    cur.executemany(
        "insert into mapper.model_metrics "
        "(tenant_id, model_version, detector_type, metric_name, metric_value) "
        "values (%s, 'v1.0.0', 'pii', 'f1', %s)",
        [(tenant_id, 0.9) for _ in range(count)],
    )


@pytest.fixture
def two_tenants(speak: Speaker) -> Speaker:
    """Tenants A and B, each with rows in every tenant table, written as the app."""
    with speak.app() as conn:
        for tid, name in ((TENANT_A, "alpha"), (TENANT_B, "bravo")):
            add_tenant(conn, tid, name)
            with tenant(conn, tid) as cur:
                add_rows(cur, tid)
    return speak
