"""The audit trail: every change is a link of the tenant's hash chain; tampering is found."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.schema.schema_helpers import TENANT_A, TENANT_B, Speaker, tenant


def trail(speak: Speaker, tenant_id: Any) -> list[tuple[Any, ...]]:
    with speak.auditor() as conn, tenant(conn, tenant_id) as cur:
        return cur.execute(
            "select chain_seq, action, table_name, db_user, actor, old_data, new_data "
            "from mapper.audit_records order by chain_seq"
        ).fetchall()


def verify(speak: Speaker, tenant_id: Any) -> list[tuple[Any, ...]]:
    with speak.auditor() as conn, tenant(conn, tenant_id) as cur:
        return cur.execute("select chain_seq, problem from mapper.verify_audit_chain()").fetchall()


def test_every_change_is_audited(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("select set_config('app.actor', 'alice@example.com', true)")
        cur.execute("update mapper.storage_records set backup_status = 'backed_up' where true")
        cur.execute("delete from mapper.model_metrics where metric_value > 0")
        cur.execute("update mapper.tenant_configs set retention_days = 30 where true")
        cur.execute(
            "update mapper.detector_executions set status = 'cancelled' where status = 'succeeded'"
        )
    links = trail(two_tenants, TENANT_A)
    counts: dict[tuple[str, str], int] = {}
    for _, action, table, *_ in links:
        counts[(table, action)] = counts.get((table, action), 0) + 1
    assert counts == {
        ("tenant_configs", "insert"): 1,
        ("storage_records", "insert"): 3,
        ("detector_executions", "insert"): 3,
        ("model_metrics", "insert"): 3,
        ("storage_records", "update"): 3,
        ("model_metrics", "delete"): 3,
        ("tenant_configs", "update"): 1,
        ("detector_executions", "update"): 2,
    }
    assert [link[0] for link in links] == list(range(1, len(links) + 1))
    assert {link[3] for link in links} == {"app_user"}
    assert {link[4] for link in links[-9:]} == {"alice@example.com"}
    update = next(link for link in links if link[1:3] == ("update", "tenant_configs"))
    assert (update[5]["retention_days"], update[6]["retention_days"]) == (90, 30)
    for link in links:
        for data in (link[5], link[6]):
            assert data is None or "payload" not in data
    assert verify(two_tenants, TENANT_A) == []
    assert verify(two_tenants, TENANT_B) == []
    assert all(link[1] == "insert" for link in trail(two_tenants, TENANT_B))


def test_data_tables_are_audited_by_digest(two_tenants: Speaker) -> None:
    """The trail of a data table keeps the sha256 of each row version's text form (in the
    settings the trigger pins), which anyone can recompute from the row."""
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("update mapper.storage_records set backup_status = 'failed' where true")
        for setting in (
            "datestyle = 'ISO, YMD'",
            "intervalstyle = 'postgres'",
            "timezone = 'UTC'",
            "extra_float_digits = 1",
            "bytea_output = 'hex'",
        ):
            cur.execute(f"set local {setting}")
        rows = cur.execute(
            "select jsonb_build_object('tenant_id', tenant_id, 'created_at', created_at, 'id', id),"
            " encode(sha256(convert_to(s::text, 'UTF8')), 'hex') "
            "from mapper.storage_records as s"
        ).fetchall()
    links = {
        str(sorted(link[0].items())): link[1]
        for link in two_tenants_links(two_tenants, "storage_records", "update")
    }
    assert len(rows) == 3
    for key, digest in rows:
        assert links[str(sorted(key.items()))] == {"sha256": digest}


def two_tenants_links(speak: Speaker, table: str, action: str) -> list[tuple[Any, ...]]:
    with speak.auditor() as conn, tenant(conn, TENANT_A) as cur:
        return cur.execute(
            "select row_key, new_data from mapper.audit_records "
            "where table_name = %s and action = %s",
            (table, action),
        ).fetchall()


def tamper(speak: Speaker, statement: str) -> None:
    with speak.superuser() as conn:
        conn.execute("set session_replication_role = replica")  # past the append-only trigger
        conn.execute(statement, (TENANT_A,))
        conn.commit()


@pytest.mark.parametrize(
    ("statement", "broken_at", "problem"),
    [
        (
            "update mapper.audit_records set new_data = new_data || '{\"metric_value\": 1}' "
            "where tenant_id = %s and chain_seq = 9",
            9,
            "altered row",
        ),
        (
            "update mapper.audit_records set db_user = 'someone_else' "
            "where tenant_id = %s and chain_seq = 2",
            2,
            "altered row",
        ),
        ("delete from mapper.audit_records where tenant_id = %s and chain_seq = 4", 4, "missing"),
        ("delete from mapper.audit_records where tenant_id = %s and chain_seq = 10", 10, "removed"),
        (
            "update mapper.audit_records set row_hash = sha256(row_hash) "
            "where tenant_id = %s and chain_seq = 5",
            5,
            "altered row",
        ),
    ],
)
def test_tampering_is_reported_at_the_first_broken_link(
    two_tenants: Speaker, statement: str, broken_at: int, problem: str
) -> None:
    assert len(trail(two_tenants, TENANT_A)) == 10
    tamper(two_tenants, statement)
    found = verify(two_tenants, TENANT_A)
    assert len(found) == 1
    assert found[0][0] == broken_at
    assert problem in found[0][1]
    assert verify(two_tenants, TENANT_B) == []


@pytest.mark.parametrize("user", ["app", "readonly", "auditor"])
@pytest.mark.parametrize(
    "statement",
    [
        "update mapper.audit_records set actor = 'x'",
        "delete from mapper.audit_records",
        "truncate mapper.audit_records",
        "insert into mapper.audit_records (tenant_id, chain_seq, action, table_name, prev_hash,"
        " row_hash) values ('aaaaaaaa-0000-4000-8000-00000000000a', 99, 'insert', 'x',"
        " sha256(''), sha256(''))",
        "update mapper.audit_chain_heads set last_seq = 0",
        "delete from mapper.audit_records_default",
    ],
)
def test_application_roles_cannot_change_the_trail(
    two_tenants: Speaker, user: str, statement: str
) -> None:
    with (
        getattr(two_tenants, user)() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute(statement)
    assert verify(two_tenants, TENANT_A) == []
    assert len(trail(two_tenants, TENANT_A)) == 10


def test_even_the_owner_cannot_rewrite_the_trail(two_tenants: Speaker) -> None:
    with two_tenants.admin() as conn:
        for statement in (
            "update mapper.audit_records set actor = 'x'",
            "delete from mapper.audit_records",
            "truncate mapper.audit_records",
        ):
            with pytest.raises(psycopg.Error, match="append-only"), tenant(conn, TENANT_A) as cur:
                cur.execute("set local role mapper_owner")
                cur.execute(statement)


def test_concurrent_writers_keep_one_chain(two_tenants: Speaker) -> None:
    """Two sessions writing for the same tenant interleave into one gapless chain."""
    with two_tenants.app() as first, two_tenants.app() as second:
        for conn in (first, second):
            conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
        first.execute("update mapper.model_metrics set metric_value = 1 where true")
        second.execute("select 1")  # second's update would wait on the chain head: commit first
        first.commit()
        second.execute("update mapper.model_metrics set metric_value = 2 where true")
        second.commit()
    links = trail(two_tenants, TENANT_A)
    assert [link[0] for link in links] == list(range(1, 17))
    assert verify(two_tenants, TENANT_A) == []
