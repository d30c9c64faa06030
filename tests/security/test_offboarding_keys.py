"""Offboarding a tenant that has data keys, and crypto-shredding one tenant's keys (migration
0026). Before it, `delete_tenant()` failed on tenant_data_keys_tenant_fk for any tenant that had
ever encrypted anything, and the owner in maintenance mode could delete every tenant's keys (no
WHERE) but not one tenant's (no select policy: the WHERE saw no row). Tried as the app, readonly,
auditor, admin and owner."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.schema.schema_helpers import TENANT_A, TENANT_B, Speaker, add_tenant, tenant
from tests.security.test_data_keys_audit import (
    VERSION,
    add_key,
    assert_no_key_material,
    chain_problems,
    key_links,
)

# A tenant with a configuration and keys but no data rows left: ready to be offboarded.
TENANT_C = uuid.UUID("cccccccc-0000-4000-8000-00000000000c")
VERSION_2 = "2" * 32


def keys_of(speak: Speaker) -> dict[str, int]:
    """Key rows per tenant, as the superuser sees them (no RLS)."""
    with speak.superuser() as conn:
        rows = conn.execute(
            "select tenant_id::text, count(*) from mapper.tenant_data_keys group by 1"
        ).fetchall()
    return {tenant_id: count for tenant_id, count in rows}


def links_of(speak: Speaker, tenant_id: uuid.UUID) -> list[tuple[Any, ...]]:
    with speak.auditor() as conn, tenant(conn, tenant_id) as cur:
        return cur.execute(
            "select table_name, action, entries, db_user from mapper.audit_records "
            "order by chain_seq"
        ).fetchall()


@pytest.fixture
def three_tenants(two_tenants: Speaker) -> Speaker:
    """A and B (data rows and one key each), and C: two keys, one retired, no data rows."""
    with two_tenants.app() as conn:
        add_tenant(conn, TENANT_C, "charlie")
        add_key(conn, TENANT_C)
        add_key(conn, TENANT_C, VERSION_2, 2)
        with tenant(conn, TENANT_C) as cur:
            cur.execute(
                "update mapper.tenant_data_keys set state = 'retired' where key_version = %s",
                (VERSION,),
            )
        add_key(conn, TENANT_A)
        add_key(conn, TENANT_B)
    return two_tenants


def owner(conn: psycopg.Connection[Any], maintenance: bool = True) -> None:
    """The admin as the owner, the way an operator is: set role, then the maintenance flag."""
    conn.execute("set local role mapper_owner")
    if maintenance:
        conn.execute("select set_config('mapper.maintenance', 'on', true)")


def test_offboarding_a_tenant_with_keys_shreds_them_in_its_chain(three_tenants: Speaker) -> None:
    """The documented path: the app, with the departed tenant in context, calls delete_tenant()."""
    with three_tenants.app() as conn, tenant(conn, TENANT_C) as cur:
        assert cur.execute("select mapper.delete_tenant()").fetchone() == (1,)
    assert keys_of(three_tenants) == {str(TENANT_A): 1, str(TENANT_B): 1}
    links = links_of(three_tenants, TENANT_C)
    # The keys go first (one link, both versions), then the configuration; both as the app.
    assert links[-2:] == [
        ("tenant_data_keys", "delete", 2, "app_user"),
        ("tenant_configs", "delete", 1, "app_user"),
    ]
    shred = key_links(three_tenants, TENANT_C)[-1]
    assert shred[2] == {"key_version": [VERSION, VERSION_2]}
    assert [row["state"] for row in shred[3]] == ["retired", "active"] and shred[4] is None
    assert_no_key_material(shred[6])
    assert chain_problems(three_tenants, TENANT_C) == []
    # The other tenants' chains did not move.
    assert [link[0] for link in links_of(three_tenants, TENANT_A)].count("tenant_data_keys") == 1
    assert chain_problems(three_tenants, TENANT_A) == []


def test_offboarding_is_refused_while_data_remains_and_keeps_the_keys(
    three_tenants: Speaker,
) -> None:
    """Shredding the keys of a tenant whose rows remain is the owner's decision, not a side
    effect of a refused offboarding: the whole call rolls back, keys and links included."""
    before = links_of(three_tenants, TENANT_A)
    with (
        three_tenants.app() as conn,
        pytest.raises(errors.ForeignKeyViolation) as caught,
        tenant(conn, TENANT_A) as cur,
    ):
        cur.execute("select mapper.delete_tenant()")
    assert caught.value.diag.constraint_name == "storage_records_tenant_fk"
    assert keys_of(three_tenants)[str(TENANT_A)] == 1
    assert links_of(three_tenants, TENANT_A) == before


def test_the_owner_shreds_one_named_tenants_keys(three_tenants: Speaker) -> None:
    """shred_tenant_keys(id): the operator's crypto-shredding of one tenant, its data rows
    still in place (backups, legal hold), the link in that tenant's chain."""
    with three_tenants.admin() as conn:
        owner(conn)
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(TENANT_B),))
        assert conn.execute("select mapper.shred_tenant_keys(%s)", (TENANT_C,)).fetchone() == (2,)
        # The named tenant is in context for the call only; the caller's context is unchanged.
        assert conn.execute("select current_setting('app.tenant_id')").fetchone() == (
            str(TENANT_B),
        )
        assert conn.execute("select mapper.shred_tenant_keys(%s)", (TENANT_A,)).fetchone() == (1,)
        assert conn.execute("select mapper.shred_tenant_keys(%s)", (uuid.uuid4(),)).fetchone() == (
            0,
        )
        conn.commit()
    assert keys_of(three_tenants) == {str(TENANT_B): 1}
    assert links_of(three_tenants, TENANT_C)[-1] == ("tenant_data_keys", "delete", 2, "mapperadmin")
    assert links_of(three_tenants, TENANT_A)[-1] == ("tenant_data_keys", "delete", 1, "mapperadmin")
    for tenant_id in (TENANT_A, TENANT_B, TENANT_C):
        assert chain_problems(three_tenants, tenant_id) == []
    # A's data rows and configuration stay: crypto-shredding makes them unreadable, not gone.
    with three_tenants.app() as conn, tenant(conn, TENANT_A) as cur:
        assert cur.execute("select count(*) from mapper.storage_records").fetchone() == (3,)


def test_shredding_needs_a_tenant(three_tenants: Speaker) -> None:
    with (
        three_tenants.admin() as conn,
        pytest.raises(errors.InvalidParameterValue, match="shred_tenant_keys"),
    ):
        owner(conn)
        conn.execute("select mapper.shred_tenant_keys(null)")
    assert sum(keys_of(three_tenants).values()) == 4


@pytest.mark.parametrize(
    ("statement", "context"),
    [
        ("delete from mapper.tenant_data_keys", None),
        ("delete from mapper.tenant_data_keys where tenant_id = %s", TENANT_A),
        ("delete from mapper.tenant_data_keys where tenant_id = %s", None),
    ],
)
def test_the_owners_delete_reaches_one_tenant_at_most(
    three_tenants: Speaker, statement: str, context: uuid.UUID | None
) -> None:
    """A delete with no WHERE used to remove every tenant's keys. Now the owner's key delete
    is keyed on the tenant context, like its delete of any tenant row (0013): without a
    tenant in context it deletes nothing, with one only that tenant's keys."""
    params = (TENANT_A,) if "%s" in statement else ()
    with three_tenants.admin() as conn:
        owner(conn)
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(context or ""),))
        deleted = conn.execute(statement, params).rowcount
        conn.commit()
    expected = 1 if context == TENANT_A else 0
    assert deleted == expected
    assert sum(keys_of(three_tenants).values()) == 4 - expected


@pytest.mark.parametrize("who", ["app", "readonly", "auditor", "admin"])
def test_no_other_role_shreds_keys(three_tenants: Speaker, who: str) -> None:
    """shred_tenant_keys() is the owner's alone (the admin must `set role mapper_owner`), and no
    other role deletes a key row, maintenance flag or not."""
    for statement, params in (
        ("select mapper.shred_tenant_keys(%s)", (TENANT_A,)),
        ("delete from mapper.tenant_data_keys where tenant_id = %s", (TENANT_A,)),
    ):
        with (
            getattr(three_tenants, who)() as conn,
            pytest.raises(errors.InsufficientPrivilege),
            tenant(conn, TENANT_A) as cur,
        ):
            cur.execute("select set_config('mapper.maintenance', 'on', true)")
            cur.execute(statement, params)
    if who == "app":
        # Its own deletes: delete_rows() is for data tables only, delete_tenant() is refused
        # while A's data remains (above).
        with (
            three_tenants.app() as conn,
            pytest.raises(errors.InvalidParameterValue),
            tenant(conn, TENANT_A) as cur,
        ):
            cur.execute(
                "select mapper.delete_rows('tenant_data_keys', array[%s]::uuid[])", (TENANT_A,)
            )
    assert sum(keys_of(three_tenants).values()) == 4
