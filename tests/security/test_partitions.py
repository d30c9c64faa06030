"""Partitions are no side door: every partition forces RLS, grants nothing and carries its
parent's triggers, whoever made it; the admin login has no direct DML on mapper tables; audit
partitions refuse update, delete and truncate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.schema.schema_helpers import TENANT_A, Speaker, tenant

PARTITIONED = ("audit_records", "detector_executions", "model_metrics", "storage_records")

# Independent of the schema's own functions: the catalog, compared partition by parent.
PARTITION_DIFFERENCES = """
with parts as (
    select pg_partition_root(c.oid) as root, c.oid as part
    from pg_class c
    where c.relnamespace = 'mapper'::regnamespace and c.relispartition
),
triggers as (
    select t.tgrelid as rel, t.tgname, t.tgtype, t.tgfoid, t.tgenabled, t.tgargs,
        replace(pg_get_triggerdef(t.oid), ' ON ' || t.tgrelid::regclass::text || ' ', ' ON _ ')
            as def
    from pg_trigger t where not t.tgisinternal
)
select p.part::regclass::text, 'rls flags' from parts p
join pg_class pc on pc.oid = p.part join pg_class rc on rc.oid = p.root
where (pc.relrowsecurity, pc.relforcerowsecurity)
    is distinct from (rc.relrowsecurity, rc.relforcerowsecurity)
union all
select p.part::regclass::text, 'trigger ' || d.tgname
from parts p
cross join lateral (
    (select tgname, tgtype, tgfoid, tgenabled, tgargs, def from triggers where rel = p.root
    except
    select tgname, tgtype, tgfoid, tgenabled, tgargs, def from triggers where rel = p.part)
    union
    (select tgname, tgtype, tgfoid, tgenabled, tgargs, def from triggers where rel = p.part
    except
    select tgname, tgtype, tgfoid, tgenabled, tgargs, def from triggers where rel = p.root)
) d
union all
select p.part::regclass::text, 'grant to ' || a.grantee::regrole::text
from parts p join pg_class pc on pc.oid = p.part
cross join lateral aclexplode(pc.relacl) a
where a.grantee <> pc.relowner
order by 1, 2
"""


def differences(speak: Speaker) -> list[tuple[str, str]]:
    with speak.superuser() as conn:
        return [(r[0], r[1]) for r in conn.execute(PARTITION_DIFFERENCES).fetchall()]


def partitions(speak: Speaker, table: str) -> list[str]:
    with speak.superuser() as conn:
        rows = conn.execute(
            "select relid::regclass::text from pg_partition_tree(%s::regclass) where level > 0 "
            "order by 1",
            (f"mapper.{table}",),
        ).fetchall()
    return [r[0] for r in rows]


def maintain(speak: Speaker) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        rows = conn.execute(
            "select table_name, partition_name, action from mapper.maintain_partitions()"
        ).fetchall()
        conn.commit()
    return rows


def test_every_partition_matches_its_parent(two_tenants: Speaker) -> None:
    assert sum(len(partitions(two_tenants, t)) for t in PARTITIONED) >= 4 * 5
    assert differences(two_tenants) == []
    with two_tenants.admin() as conn:
        assert conn.execute("select * from mapper.partition_problems()").fetchall() == []


def test_partitions_made_or_altered_by_hand_are_caught_then_repaired(two_tenants: Speaker) -> None:
    """Whoever can become the owner can attach a table or weaken a partition: the catalog test
    sees it, and the next maintenance run puts the parent's requirements back."""
    audit_month = partitions(two_tenants, "audit_records")[0]
    storage_month = next(p for p in partitions(two_tenants, "storage_records") if "_p" in p)
    with two_tenants.admin() as conn:
        conn.execute("set role mapper_owner")
        conn.execute(
            "create table mapper.storage_records_side "
            "(like mapper.storage_records including defaults including constraints)"
        )
        conn.execute("grant select, insert on mapper.storage_records_side to mapper_app")
        conn.execute(
            "alter table mapper.storage_records attach partition mapper.storage_records_side "
            "for values from ('2090-01-01') to ('2090-02-01')"
        )
        conn.execute(
            "create table mapper.model_metrics_side partition of mapper.model_metrics "
            "for values from ('2091-01-01') to ('2091-02-01')"
        )
        conn.execute("alter table mapper.audit_records_default no force row level security")
        conn.execute(f"alter table {audit_month} disable trigger audit_records_append_only")
        conn.execute(f"drop trigger storage_records_no_truncate on {storage_month}")
        conn.commit()
    found = differences(two_tenants)
    for expected in [
        ("mapper.storage_records_side", "rls flags"),
        ("mapper.storage_records_side", "grant to mapper_app"),
        ("mapper.storage_records_side", "trigger storage_records_no_truncate"),
        ("mapper.storage_records_side", "trigger storage_records_audit_insert"),
        ("mapper.model_metrics_side", "rls flags"),
        ("mapper.model_metrics_side", "trigger model_metrics_no_truncate"),
        ("mapper.audit_records_default", "rls flags"),
        (audit_month, "trigger audit_records_append_only"),
        (storage_month, "trigger storage_records_no_truncate"),
    ]:
        assert expected in found
    with two_tenants.admin() as conn:
        reported = {r[1] for r in conn.execute("select * from mapper.partition_problems()")}
    assert {p for p, _ in found} <= reported
    done = maintain(two_tenants)
    repaired = {r[1] for r in done if r[2].startswith("repaired")}
    assert {p for p, _ in found} <= repaired
    assert differences(two_tenants) == []
    with two_tenants.app() as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("select count(*) from mapper.storage_records_side")


def test_admin_login_has_no_direct_dml(two_tenants: Speaker) -> None:
    """The admin reaches tenant rows only by becoming the owner (migrations, maintenance)."""
    targets = [f"mapper.{t}" for t in PARTITIONED] + [
        "mapper.tenant_configs",
        "mapper.audit_chain_heads",
    ]
    for table in PARTITIONED:
        targets += partitions(two_tenants, table)
    statements = [
        "select count(*) from {}",
        "update {} set tenant_id = tenant_id",
        "delete from {}",
        "truncate {}",
        "insert into {} (tenant_id) values ('" + str(TENANT_A) + "')",
    ]
    with two_tenants.admin() as conn:
        for target in targets:
            for statement in statements:
                for maintenance in ("", "on"):
                    with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                        conn.execute(
                            "select set_config('mapper.maintenance', %s, true)", (maintenance,)
                        )
                        conn.execute(statement.format(target))


@pytest.mark.parametrize("who", ["owner", "superuser"])
def test_audit_partitions_refuse_update_delete_truncate(two_tenants: Speaker, who: str) -> None:
    parts = partitions(two_tenants, "audit_records")
    connect = two_tenants.admin if who == "owner" else two_tenants.superuser
    with connect() as conn:
        for part in ["mapper.audit_records", *parts]:
            for statement in (
                f"update {part} set actor = 'forged'",
                f"delete from {part}",
                f"truncate {part}",
            ):
                with pytest.raises(psycopg.Error) as caught, conn.transaction():
                    if who == "owner":
                        conn.execute("set local role mapper_owner")
                    conn.execute("select set_config('mapper.maintenance', 'on', true)")
                    conn.execute(statement)
                assert "append-only" in str(caught.value), (part, statement)
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        assert cur.execute("select count(*) from mapper.verify_audit_chain()").fetchone() == (0,)


def test_data_partitions_refuse_truncate_and_audit_direct_writes(two_tenants: Speaker) -> None:
    month = next(
        p
        for p in partitions(two_tenants, "storage_records")
        if p[-7:-6] == "p" and p[-6:].isdigit()
    )
    with two_tenants.superuser() as conn:
        for part in partitions(two_tenants, "storage_records"):
            with pytest.raises(errors.InsufficientPrivilege, match="TRUNCATE"), conn.transaction():
                conn.execute(f"truncate {part}")
        last = "select chain_seq, table_name from mapper.audit_records where tenant_id = %s "
        last += "order by chain_seq desc limit 1"
        before = conn.execute(last, (TENANT_A,)).fetchone()
        with conn.transaction():
            conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_A),))
            changed = conn.execute(
                f"update {month} set backup_status = 'failed' where tenant_id = %s", (TENANT_A,)
            ).rowcount
        assert changed == 3
        after = conn.execute(last, (TENANT_A,)).fetchone()
    assert before is not None
    # The direct write is in the trail, under the table's own name.
    assert after == (before[0] + 1, "storage_records")
    with two_tenants.auditor() as conn, tenant(conn, TENANT_A) as cur:
        assert cur.execute("select count(*) from mapper.verify_audit_chain()").fetchone() == (0,)
    with two_tenants.admin() as conn:
        conn.execute("set role mapper_owner")
        # The owner sees no rows through a partition: RLS is forced there too.
        assert conn.execute(f"select count(*) from {month}").fetchone() == (0,)


def test_draining_the_audit_default_partition_is_the_one_exception(two_tenants: Speaker) -> None:
    """A link that waits in the default partition (its month had none) is moved, not changed,
    by maintenance; the append-only trigger lets exactly that delete through, nothing else."""
    now = datetime.now(UTC)
    year, month = divmod(now.year * 12 + now.month - 1 - 6, 12)  # six months ago: no partition
    when = datetime(year, month + 1, 15, tzinfo=UTC)
    month_partition = f"audit_records_p{when:%Y%m}"
    with two_tenants.superuser() as conn:
        conn.execute(
            "insert into mapper.audit_records (tenant_id, chain_seq, occurred_at, action, "
            "table_name, entries, row_keys, new_rows, prev_hash, row_hash) values "
            "(%s, 1000, %s, 'insert', 'storage_records', 1, '{\"id\": [1]}', "
            "'[\"x\"]', sha256(''), sha256('x'))",
            (TENANT_A, when),
        )
        conn.commit()
    done = maintain(two_tenants)
    assert (
        "mapper.audit_records",
        month_partition,
        "created, rows moved from default",
    ) in (done)
    with two_tenants.superuser() as conn:
        assert conn.execute("select count(*) from mapper.audit_records_default").fetchone() == (0,)
        assert conn.execute(
            f"select count(*) from mapper.{month_partition} where chain_seq = 1000"
        ).fetchone() == (1,)
        with pytest.raises(psycopg.Error, match="append-only"), conn.transaction():
            conn.execute("set local role mapper_owner")
            conn.execute("select set_config('mapper.maintenance', 'on', true)")
            conn.execute(f"delete from mapper.{month_partition}")
    assert differences(two_tenants) == []
