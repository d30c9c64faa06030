"""Two ways around the audit trail found by attacking the schema, closed by migration 0022:
an app session's own maintenance flag inherited by owner-rights functions, and the owner
draining an audit partition other than the default."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import errors

from tests.schema.schema_helpers import TENANT_A, Speaker, tenant


def links(speak: Speaker) -> int:
    with speak.auditor() as conn, tenant(conn, TENANT_A) as cur:
        row: Any = cur.execute("select count(*) from mapper.audit_records").fetchone()
        return int(row[0])


@pytest.mark.parametrize("table", ["storage_records", "detector_executions", "model_metrics"])
def test_an_app_session_in_maintenance_mode_still_deletes_with_an_audit_link(
    two_tenants: Speaker, table: str
) -> None:
    before = links(two_tenants)
    with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        cur.execute("select set_config('mapper.maintenance', 'on', true)")
        ids = [r[0] for r in cur.execute(f"select id from mapper.{table}").fetchall()]
        deleted = cur.execute("select mapper.delete_rows(%s, %s)", (table, ids)).fetchone()
        assert deleted == (len(ids),) and ids
    assert links(two_tenants) == before + 1
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        assert cur.execute("select * from mapper.verify_audit_chain()").fetchall() == []


def test_the_owner_cannot_drain_a_month_partition_of_the_trail(two_tenants: Speaker) -> None:
    with two_tenants.superuser() as conn:
        row: Any = conn.execute(
            "select tableoid::regclass::text from mapper.audit_records"
            " where tableoid <> (select partdefid from pg_partitioned_table"
            " where partrelid = 'mapper.audit_records'::regclass) limit 1"
        ).fetchone()
    month = row[0]
    with two_tenants.admin() as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("set local role mapper_owner")
        conn.execute("select set_config('mapper.maintenance', 'on', true)")
        conn.execute("select set_config('mapper.partition_move', %s, true)", (month,))
        conn.execute(f"delete from {month} where tenant_id = %s", (TENANT_A,))
