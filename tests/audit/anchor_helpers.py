"""Helpers of the audit anchoring tests: tenants with audit chains written as the app, the CLI
run in-process as an auditor login, and tampering as someone who can write the audit tables."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from mapperdb.cli import main
from mapperdb.pg.ephemeral import EphemeralPostgres
from tests.conftest import Database

# Login users of these tests (cluster-wide, like people and services on Azure).
LOGINS = {
    "anchor_app": "mapper_app",
    "anchor_readonly": "mapper_readonly",
    "anchor_auditor": "mapper_auditor",
}
TENANT_A = uuid.UUID("aaaaaaaa-0000-4000-8000-0000000000a1")
TENANT_B = uuid.UUID("bbbbbbbb-0000-4000-8000-0000000000b1")
UNKNOWN = uuid.UUID("cccccccc-0000-4000-8000-0000000000c1")
LINKS = 4  # per tenant: the configuration insert and three updates


@pytest.fixture(scope="session")
def anchor_logins(pg: EphemeralPostgres, template_db: str) -> dict[str, str]:
    with psycopg.connect(pg.admin_conninfo("postgres"), autocommit=True) as conn:
        for user, group in LOGINS.items():
            if conn.execute("select from pg_roles where rolname = %s", (user,)).fetchone() is None:
                conn.execute(
                    sql.SQL("create role {} login in role {}").format(
                        sql.Identifier(user), sql.Identifier(group)
                    )
                )
    return LOGINS


@dataclass(frozen=True)
class Chains:
    """A database where tenants A and B each have a chain of LINKS links."""

    db: Database

    @property
    def auditor_dsn(self) -> str:
        return self.db.conninfo("anchor_auditor")

    def connect(self, user: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.db.conninfo(user), autocommit=False)

    def write(self, tenant_id: uuid.UUID, updates: int = 1) -> None:
        """``updates`` more links in the tenant's chain, written as the app."""
        with self.connect("anchor_app") as conn:
            for _ in range(updates):
                with conn.transaction():
                    conn.execute("select set_config('app.tenant_id', %s, true)", (str(tenant_id),))
                    conn.execute(
                        "update mapper.tenant_configs "
                        "set retention_days = retention_days + 1 where true"
                    )

    def verify_in_db(
        self, context: uuid.UUID | None, tenant_id: uuid.UUID | None = None
    ) -> list[tuple[Any, ...]]:
        """verify_audit_chain() as an auditor login: (chain_seq, problem) rows."""
        with self.connect("anchor_auditor") as conn, conn.transaction():
            if context is not None:
                conn.execute("select set_config('app.tenant_id', %s, true)", (str(context),))
            return conn.execute(
                "select chain_seq, problem from mapper.verify_audit_chain(%s)", (tenant_id,)
            ).fetchall()

    def links(self, tenant_id: uuid.UUID) -> list[tuple[Any, ...]]:
        with self.connect("anchor_auditor") as conn, conn.transaction():
            conn.execute("select set_config('app.tenant_id', %s, true)", (str(tenant_id),))
            return conn.execute(
                "select chain_seq, occurred_at, row_hash from mapper.audit_records "
                "order by chain_seq"
            ).fetchall()

    def tamper(self, statement: str, params: dict[str, Any] | None = None) -> None:
        """Runs ``statement`` as a superuser with every user trigger of the audit tables off,
        as someone who can write them would (then turns the triggers back on)."""
        with psycopg.connect(self.db.superuser_conninfo, autocommit=False) as conn:
            conn.execute("set session_replication_role = replica")
            tables = [
                row[0]
                for row in conn.execute(
                    "select relid::regclass::text from pg_partition_tree('mapper.audit_records') "
                    "union all select 'mapper.audit_chain_heads'"
                )
            ]
            for table in tables:
                conn.execute(f"alter table {table} disable trigger user")
            conn.execute(statement, params or {})
            for table in tables:
                conn.execute(f"alter table {table} enable trigger user")
            conn.commit()


# Recomputes every link's prev_hash and row_hash from link 1 on, in chain_seq order, and points
# the head at the last link: what a forger with write access does after changing history.
RECHAIN = """
do $$
declare
    v_tenant uuid := '{tenant}';
    v_prev bytea := '\\x' || repeat('00', 32);
    v_hash bytea;
    v_seq bigint := 0;
    v_link record;
begin
    for v_link in
        select * from mapper.audit_records where tenant_id = v_tenant order by chain_seq
    loop
        v_hash := sha256(v_prev || mapper.audit_canonical(
            mapper.audit_header(v_link.tenant_id, v_link.occurred_at, v_link.action,
                v_link.table_name, v_link.db_user, v_link.actor),
            v_link.chain_seq, v_link.row_keys, v_link.old_rows, v_link.new_rows));
        update mapper.audit_records set prev_hash = v_prev, row_hash = v_hash
        where tenant_id = v_tenant and chain_seq = v_link.chain_seq
            and occurred_at = v_link.occurred_at;
        v_prev := v_hash;
        v_seq := v_link.chain_seq;
    end loop;
    update mapper.audit_chain_heads set last_seq = v_seq, last_hash = v_prev
    where tenant_id = v_tenant;
end
$$
"""


def rechain(chains: Chains, tenant_id: uuid.UUID) -> None:
    chains.tamper(RECHAIN.format(tenant=tenant_id))


@pytest.fixture
def chains(db: Database, anchor_logins: dict[str, str]) -> Chains:
    with psycopg.connect(db.conninfo("anchor_app"), autocommit=False) as conn:
        for tid, name in ((TENANT_A, "alpha"), (TENANT_B, "bravo")):
            with conn.transaction():
                conn.execute("select set_config('app.tenant_id', %s, true)", (str(tid),))
                conn.execute(
                    "insert into mapper.tenant_configs (tenant_id, name, key_vault_key_uri) "
                    "values (%s, %s, %s)",
                    (tid, name, f"https://kv-{name}.vault.azure.net/keys/tenant-key"),
                )
    made = Chains(db)
    for tid in (TENANT_A, TENANT_B):
        made.write(tid, LINKS - 1)
    return made


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``mapperdb ARGS`` in this process: its exit code, stdout and stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return Run(code if isinstance(code, int) else 1, captured.out, captured.err)


def checkpoint(capsys: pytest.CaptureFixture[str], chains: Chains, out: Path) -> Run:
    return run(capsys, "audit", "checkpoint", "--dsn", chains.auditor_dsn, "--out", str(out))


def verify(
    capsys: pytest.CaptureFixture[str], chains: Chains, checkpoints: Path | None, *args: str
) -> Run:
    where = ["--checkpoints", str(checkpoints)] if checkpoints is not None else []
    return run(
        capsys, "audit", "verify", "--dsn", chains.auditor_dsn, *where, "--format", "json", *args
    )


def statuses(result: Run) -> dict[str, tuple[str, int | None]]:
    """tenant id -> (status, chain_seq) of a JSON verify report."""
    return {t["tenant_id"]: (t["status"], t["chain_seq"]) for t in result.json["tenants"]}
