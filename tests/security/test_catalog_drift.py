"""Tenant tables that drift from what their migrations made are found and repaired (0031):
the owner disabling an audit, append-only or time-window trigger, or not forcing row level
security, on any tenant table (partitioned or not) is named by table_problems() and by the
alert hook at once, and the nightly maintenance repairs it and reports it as a failure."""

from __future__ import annotations

from typing import Any

import pytest

from tests.schema.schema_helpers import TENANT_A, Speaker, tenant
from tests.security.test_data_keys_audit import (
    KEK_2,
    REWRAPPED,
    VERSION,
    add_key,
    chain_problems,
    key_links,
)

TENANT_TABLES = (
    "audit_chain_heads",
    "audit_records",
    "detector_executions",
    "model_metrics",
    "storage_records",
    "tenant_configs",
    "tenant_data_keys",
)


def as_owner(speak: Speaker, *statements: str) -> None:
    with speak.admin() as conn:
        conn.execute("set role mapper_owner")
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def table_problems(speak: Speaker) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        return conn.execute("select * from mapper.table_problems()").fetchall()


def alerts(speak: Speaker) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        return conn.execute(
            "select source, target, detail from mapper.maintenance_problems()"
        ).fetchall()


def maintain(speak: Speaker) -> list[tuple[Any, ...]]:
    with speak.admin() as conn:
        rows = conn.execute(
            "select table_name, partition_name, action from mapper.maintain_partitions()"
        ).fetchall()
        conn.commit()
    return rows


def triggers(speak: Speaker, table: str) -> dict[str, str]:
    with speak.superuser() as conn:
        rows = conn.execute(
            "select tgname, tgenabled from pg_trigger where tgrelid = %s::regclass "
            "and not tgisinternal order by 1",
            (f"mapper.{table}",),
        ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def test_every_tenant_table_is_checked_and_all_is_well(speak: Speaker) -> None:
    with speak.admin() as conn:
        conn.execute("set role mapper_owner")  # internal: found in the catalog, not a list
        tables = conn.execute("select table_name::text from mapper.tenant_tables()").fetchall()
    assert sorted(t[0] for t in tables) == [f"mapper.{t}" for t in TENANT_TABLES]
    assert table_problems(speak) == []
    assert alerts(speak) == []


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_each_disabled_trigger_is_found_and_repaired(speak: Speaker, table: str) -> None:
    names = triggers(speak, table)
    assert (table == "audit_chain_heads") == (not names)  # written by audit_append() only
    for name in names:
        as_owner(speak, f"alter table mapper.{table} disable trigger {name}")
        problem = f"mapper.{table}: trigger {name} disabled"
        assert table_problems(speak) == [(f"mapper.{table}", name, problem)]
        assert ("catalog", f"mapper.{table}", problem) in alerts(speak)
        done = maintain(speak)
        assert [r for r in done if r[2].startswith("failed")] == [
            (f"mapper.{table}", None, f"failed: {problem} (repaired)")
        ]
        assert triggers(speak, table)[name] == "O"
        assert table_problems(speak) == []
        with speak.admin() as conn:
            assert conn.execute("select * from mapper.partition_problems()").fetchall() == []
        # Repaired, and still an alert for the day: changes made meanwhile went unaudited.
        assert ("maintenance_log", f"mapper.{table}", f"{problem} (repaired)") in alerts(speak)
        with speak.admin() as conn:
            conn.execute("set role mapper_owner")
            conn.execute("delete from mapper.maintenance_log")
            conn.commit()


@pytest.mark.parametrize("table", TENANT_TABLES)
@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("no force row level security", "row level security not forced"),
        ("disable row level security", "row level security not enabled"),
    ],
)
def test_row_level_security_not_forced_or_off_is_found_and_repaired(
    speak: Speaker, table: str, statement: str, problem: str
) -> None:
    as_owner(speak, f"alter table mapper.{table} {statement}")
    expected = (f"mapper.{table}", None, f"mapper.{table}: {problem}")
    assert table_problems(speak) == [expected]
    assert ("catalog", f"mapper.{table}", expected[2]) in alerts(speak)
    done = maintain(speak)
    assert [r for r in done if r[2].startswith("failed")] == [
        (f"mapper.{table}", None, f"failed: {expected[2]} (repaired)")
    ]
    with speak.superuser() as conn:
        flags = conn.execute(
            "select relrowsecurity, relforcerowsecurity from pg_class where oid = %s::regclass",
            (f"mapper.{table}",),
        ).fetchone()
    assert flags == (True, True)
    assert table_problems(speak) == []


def test_the_reviewed_repro_on_tenant_data_keys(two_tenants: Speaker) -> None:
    """rev9: the owner disabled the key re-wrap's audit trigger; the app's re-wrap left no link
    and nothing noticed. Now it is named at once and the next maintenance turns it back on."""
    with two_tenants.app() as conn:
        add_key(conn, TENANT_A)
    as_owner(
        two_tenants,
        "alter table mapper.tenant_data_keys disable trigger tenant_data_keys_audit_update",
    )

    def rewrap() -> int:
        with two_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
            cur.execute(
                "update mapper.tenant_data_keys set wrapped_key = %s, kek_key_id = %s, "
                "wrapped_at = now() where key_version = %s",
                (REWRAPPED, KEK_2, VERSION),
            )
        return len([link for link in key_links(two_tenants) if link[0] == "update"])

    assert rewrap() == 0  # the gap itself: no link for this re-wrap, which no repair undoes
    assert table_problems(two_tenants) == [
        (
            "mapper.tenant_data_keys",
            "tenant_data_keys_audit_update",
            "mapper.tenant_data_keys: trigger tenant_data_keys_audit_update disabled",
        )
    ]
    maintain(two_tenants)
    assert triggers(two_tenants, "tenant_data_keys")["tenant_data_keys_audit_update"] == "O"
    assert rewrap() == 1
    assert chain_problems(two_tenants) == []


def test_a_dropped_trigger_is_found_and_not_made_up(speak: Speaker) -> None:
    as_owner(
        speak,
        "drop trigger tenant_data_keys_audit_update on mapper.tenant_data_keys",
        "drop trigger storage_records_created_at_future on mapper.storage_records",
    )
    missing = [
        (
            "mapper.storage_records",
            "storage_records_created_at_future",
            "mapper.storage_records: trigger storage_records_created_at_future missing",
        ),
        (
            "mapper.tenant_data_keys",
            "tenant_data_keys_audit_update",
            "mapper.tenant_data_keys: trigger tenant_data_keys_audit_update missing",
        ),
    ]
    assert table_problems(speak) == missing
    done = maintain(speak)
    # Its definition is its migration's: named as a failure every run, not made again.
    assert sorted(r[2] for r in done if r[2].startswith("failed")) == [
        f"failed: {m[2]}" for m in missing
    ]
    assert table_problems(speak) == missing


def test_enabled_for_replicas_only_is_found(speak: Speaker) -> None:
    as_owner(
        speak, "alter table mapper.tenant_configs enable replica trigger tenant_configs_notify"
    )
    assert table_problems(speak) == [
        (
            "mapper.tenant_configs",
            "tenant_configs_notify",
            "mapper.tenant_configs: trigger tenant_configs_notify enabled for replicas only",
        )
    ]
    maintain(speak)
    assert triggers(speak, "tenant_configs")["tenant_configs_notify"] == "O"
