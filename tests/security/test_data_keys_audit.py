"""mapper.tenant_data_keys is audited and time-bounded like every tenant table (migration 0024):
every insert, update and delete of a key row is a link of its tenant's chain whoever makes it,
the trail never holds the wrapped key bytes (their sha256 instead), and no role reaches the
table around its triggers. Tried as the app, readonly, auditor, admin and owner."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.schema.schema_helpers import TENANT_A, TENANT_B, Speaker, tenant

KEK = "https://kv-alpha.vault.azure.net/keys/tenant-kek/" + "ab" * 16
KEK_2 = "https://kv-alpha.vault.azure.net/keys/tenant-kek/" + "cd" * 16
WRAPPED = bytes(range(256))
REWRAPPED = bytes(reversed(range(256)))
VERSION = "1" * 32


def add_key(
    conn: psycopg.Connection[Any], tenant_id: Any, version: str = VERSION, seq: int = 1
) -> None:
    with tenant(conn, tenant_id) as cur:
        cur.execute(
            "insert into mapper.tenant_data_keys "
            "(tenant_id, key_version, seq, wrapped_key, kek_key_id) values (%s, %s, %s, %s, %s)",
            (tenant_id, version, seq, WRAPPED, KEK),
        )


def key_links(speak: Speaker, tenant_id: Any = TENANT_A) -> list[tuple[Any, ...]]:
    with speak.auditor() as conn, tenant(conn, tenant_id) as cur:
        return cur.execute(
            "select action, entries, row_keys, old_rows, new_rows, db_user, "
            "row_keys::text || coalesce(old_rows::text, '') || coalesce(new_rows::text, '') "
            "from mapper.audit_records where table_name = 'tenant_data_keys' order by chain_seq"
        ).fetchall()


def chain_problems(speak: Speaker, tenant_id: Any = TENANT_A) -> list[tuple[Any, ...]]:
    with speak.auditor() as conn, tenant(conn, tenant_id) as cur:
        return cur.execute("select * from mapper.verify_audit_chain()").fetchall()


def assert_no_key_material(text: str) -> None:
    for secret in (WRAPPED, REWRAPPED):
        assert secret.hex() not in text
        assert secret.hex()[:64] not in text
        assert "\\x" + secret.hex()[:32] not in text


def test_every_app_change_of_a_key_is_a_link_without_the_key(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn:
        add_key(conn, TENANT_A)
        add_key(conn, TENANT_A, "2" * 32, 2)
        add_key(conn, TENANT_B)
        with tenant(conn, TENANT_A) as cur:
            # A KEK rotation re-wraps in place, then a re-encryption retires the old version.
            cur.execute(
                "update mapper.tenant_data_keys set wrapped_key = %s, kek_key_id = %s, "
                "wrapped_at = now() where key_version = %s",
                (REWRAPPED, KEK_2, VERSION),
            )
            cur.execute("update mapper.tenant_data_keys set state = 'retired'")
    links = key_links(two_tenants)
    assert [(link[0], link[1]) for link in links] == [
        ("insert", 1),
        ("insert", 1),
        ("update", 1),
        ("update", 2),
    ]
    assert all(link[5] == "app_user" for link in links)
    rewrap = links[2]
    assert rewrap[2] == {"key_version": [VERSION]}
    old, new = rewrap[3][0], rewrap[4][0]
    assert "wrapped_key" not in old and "wrapped_key" not in new
    assert old["wrapped_key_sha256"] == hashlib.sha256(WRAPPED).hexdigest()
    assert new["wrapped_key_sha256"] == hashlib.sha256(REWRAPPED).hexdigest()
    assert (old["kek_key_id"], new["kek_key_id"]) == (KEK, KEK_2)
    assert links[3][2] == {"key_version": [VERSION, "2" * 32]}
    assert [r["state"] for r in links[3][4]] == ["retired", "retired"]
    for link in links:
        assert_no_key_material(link[6])
    # Each tenant's key changes are in its own chain, and both chains verify.
    assert [(link[0], link[2]) for link in key_links(two_tenants, TENANT_B)] == [
        ("insert", {"key_version": [VERSION]})
    ]
    assert chain_problems(two_tenants) == []
    assert chain_problems(two_tenants, TENANT_B) == []


def test_an_out_of_window_time_on_a_key_is_refused_by_name(two_tenants: Speaker) -> None:
    with two_tenants.app() as conn:
        add_key(conn, TENANT_A)
    for value, constraint in (
        ("infinity", "tenant_data_keys_wrapped_at_check"),
        ("-infinity", "tenant_data_keys_wrapped_at_check"),
        ("2999-01-01", "tenant_data_keys_wrapped_at_future_check"),
    ):
        with (
            two_tenants.app() as conn,
            pytest.raises(errors.CheckViolation) as caught,
            tenant(conn, TENANT_A) as cur,
        ):
            cur.execute("update mapper.tenant_data_keys set wrapped_at = %s", (value,))
        assert caught.value.diag.constraint_name == constraint
    assert [link[0] for link in key_links(two_tenants)] == ["insert"]


@pytest.mark.parametrize(
    "statement",
    [
        "delete from mapper.tenant_data_keys",
        "truncate mapper.tenant_data_keys",
        "alter table mapper.tenant_data_keys disable trigger tenant_data_keys_audit_update",
        "update mapper.tenant_data_keys set key_version = repeat('2', 32)",
        "update mapper.tenant_data_keys set tenant_id = 'bbbbbbbb-0000-4000-8000-00000000000b'",
    ],
)
def test_the_app_cannot_change_a_key_around_the_trail(two_tenants: Speaker, statement: str) -> None:
    with two_tenants.app() as conn:
        add_key(conn, TENANT_A)
    with (
        two_tenants.app() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute(statement)
    with two_tenants.superuser() as conn:
        assert conn.execute("select count(*) from mapper.tenant_data_keys").fetchone() == (1,)


@pytest.mark.parametrize("who", ["readonly", "auditor", "admin"])
@pytest.mark.parametrize(
    "statement",
    [
        "insert into mapper.tenant_data_keys (tenant_id, key_version, seq, wrapped_key, "
        f"kek_key_id) values ('{TENANT_A}', '{'3' * 32}', 3, '\\x{'00' * 32}', '{KEK}')",
        "update mapper.tenant_data_keys set state = 'retired'",
        "delete from mapper.tenant_data_keys",
        "truncate mapper.tenant_data_keys",
    ],
)
def test_other_logins_cannot_write_keys(two_tenants: Speaker, who: str, statement: str) -> None:
    with two_tenants.app() as conn:
        add_key(conn, TENANT_A)
    with (
        getattr(two_tenants, who)() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute("select set_config('mapper.maintenance', 'on', true)")
        cur.execute(statement)


def test_the_admin_reads_no_key_directly(two_tenants: Speaker) -> None:
    with (
        two_tenants.admin() as conn,
        pytest.raises(errors.InsufficientPrivilege),
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute("select wrapped_key from mapper.tenant_data_keys")


def test_the_owners_crypto_shredding_is_a_link_and_truncate_is_refused(
    two_tenants: Speaker,
) -> None:
    """The owner is the one role that may delete keys, one tenant at a time (0026,
    tests/security/test_offboarding_keys.py): the delete is a link of the tenant's chain (no
    maintenance exemption here), and TRUNCATE is refused."""
    with two_tenants.app() as conn:
        add_key(conn, TENANT_A)
        add_key(conn, TENANT_A, "2" * 32, 2)
        add_key(conn, TENANT_B)
    with two_tenants.admin() as conn:
        conn.execute("set local role mapper_owner")
        conn.execute("select set_config('mapper.maintenance', 'on', true)")
        with pytest.raises(errors.InsufficientPrivilege, match="TRUNCATE"):
            conn.execute("truncate mapper.tenant_data_keys")
    with two_tenants.admin() as conn:
        conn.execute("set local role mapper_owner")
        conn.execute("select set_config('mapper.maintenance', 'on', true)")
        deleted = [
            conn.execute("select mapper.shred_tenant_keys(%s)", (t,)).fetchone()
            for t in (TENANT_A, TENANT_B)
        ]
        conn.commit()
    assert deleted == [(2,), (1,)]
    shred = key_links(two_tenants)[-1]
    assert shred[:3] == ("delete", 2, {"key_version": [VERSION, "2" * 32]})
    assert shred[4] is None and len(shred[3]) == 2
    assert shred[5] == "mapperadmin"
    assert_no_key_material(shred[6])
    assert chain_problems(two_tenants) == []
    assert [link[:2] for link in key_links(two_tenants, TENANT_B)] == [("insert", 1), ("delete", 1)]
    assert chain_problems(two_tenants, TENANT_B) == []


def test_the_key_table_has_no_partition_to_go_around(two_tenants: Speaker) -> None:
    """Partitions have their own triggers and grants (tests/security/test_partitions.py): the
    key table has none, and its audit triggers fire for every row-changing command."""
    with two_tenants.superuser() as conn:
        kind = conn.execute(
            "select relkind from pg_class where oid = 'mapper.tenant_data_keys'::regclass"
        ).fetchone()
        children = conn.execute(
            "select count(*) from pg_inherits where inhparent = 'mapper.tenant_data_keys'::regclass"
        ).fetchone()
        triggers = conn.execute(
            "select tgname, tgenabled from pg_trigger "
            "where tgrelid = 'mapper.tenant_data_keys'::regclass and not tgisinternal "
            "and tgfoid = 'mapper.tenant_data_keys_audit'::regproc order by 1"
        ).fetchall()
    assert kind == ("r",) and children == (0,)
    assert triggers == [
        ("tenant_data_keys_audit_delete", "O"),
        ("tenant_data_keys_audit_insert", "O"),
        ("tenant_data_keys_audit_update", "O"),
    ]
