"""Issue 9 §3: an audit trail that detects what the database cannot.

Someone who can write the audit tables (the owner, a superuser, a cloud operator) can leave a
chain that verifies intact inside the database. Each test tampers as such a person would (a
superuser with the audit tables' triggers off) after `mapperdb audit checkpoint` has copied the
heads out, and `mapperdb audit verify`, run as an auditor login, must name what happened. And a
verifier that cannot see a chain must say so, never "intact".
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.audit.anchor_helpers import (
    LINKS,
    TENANT_A,
    TENANT_B,
    UNKNOWN,
    Chains,
    anchor_logins,
    chains,
    checkpoint,
    rechain,
    statuses,
    verify,
)

__all__ = ["anchor_logins", "chains"]

A, B = str(TENANT_A), str(TENANT_B)


@pytest.fixture
def anchored(
    chains: Chains, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Chains, Path]:
    """Chains of A and B and one checkpoint of their heads (both at link LINKS)."""
    out = tmp_path / "checkpoints"
    out.mkdir()
    assert checkpoint(capsys, chains, out).code == 0
    result = verify(capsys, chains, out)
    assert result.code == 0, result.err
    assert statuses(result) == {A: ("intact", None), B: ("intact", None)}
    return chains, out


def test_a_rewound_chain_is_behind_its_checkpoint(
    anchored: tuple[Chains, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Delete the last two links and point the head at the one before: consistent in the
    database, behind the head the checkpoint copied out."""
    chains, out = anchored
    chains.tamper(
        "delete from mapper.audit_records where tenant_id = %(t)s and chain_seq > 2",
        {"t": TENANT_A},
    )
    rechain(chains, TENANT_A)
    assert chains.verify_in_db(TENANT_A) == []  # what the database alone can tell
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert statuses(result) == {A: ("head_behind_checkpoint", LINKS), B: ("intact", None)}
    tenant = result.json["tenants"][0]
    assert tenant["head_seq"] == 2
    assert "rewound" in tenant["message"]


def test_a_rewound_and_rewritten_chain_contradicts_its_checkpoint(
    anchored: tuple[Chains, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Rewind, then let the application write again past the checkpointed link: the link at the
    checkpoint's chain_seq is not the one that was checkpointed."""
    chains, out = anchored
    chains.tamper(
        "delete from mapper.audit_records where tenant_id = %(t)s and chain_seq > 2",
        {"t": TENANT_A},
    )
    rechain(chains, TENANT_A)
    chains.write(TENANT_A, LINKS)
    assert chains.verify_in_db(TENANT_A) == []
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert statuses(result)[A] == ("contradicts_checkpoint", LINKS)


def test_a_backdated_forged_link_with_recomputed_hashes_contradicts_the_checkpoint(
    anchored: tuple[Chains, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Slip a forged link into the past (between links 2 and 3, dated between them), renumber
    the later links and recompute every hash and the head: the chain verifies, the checkpoint
    does not agree."""
    chains, out = anchored
    links = chains.links(TENANT_A)
    chains.tamper(
        """
        do $$
        declare
            v_seq bigint;
        begin
            for v_seq in
                select chain_seq from mapper.audit_records
                where tenant_id = '%(t)s' and chain_seq >= 3 order by chain_seq desc
            loop
                update mapper.audit_records set chain_seq = v_seq + 1
                where tenant_id = '%(t)s' and chain_seq = v_seq;
            end loop;
        end
        $$
        """.replace("%(t)s", A)
    )
    chains.tamper(
        "insert into mapper.audit_records (tenant_id, chain_seq, occurred_at, action, table_name,"
        " entries, row_keys, old_rows, new_rows, db_user, prev_hash, row_hash)"
        " select tenant_id, 3, %(at)s, 'update', 'tenant_configs', 1, row_keys,"
        " jsonb_build_array(jsonb_build_object('retention_days', 91)),"
        " jsonb_build_array(jsonb_build_object('retention_days', 3650)),"
        " 'anchor_app', prev_hash, row_hash from mapper.audit_records"
        " where tenant_id = %(t)s and chain_seq = 2",
        {"t": TENANT_A, "at": links[1][1] + (links[2][1] - links[1][1]) / 2},
    )
    rechain(chains, TENANT_A)
    assert chains.verify_in_db(TENANT_A) == []
    assert len(chains.links(TENANT_A)) == LINKS + 1
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert statuses(result) == {A: ("contradicts_checkpoint", LINKS), B: ("intact", None)}
    assert "rewritten" in result.json["tenants"][0]["message"]


def test_a_deleted_head_is_missing(
    anchored: tuple[Chains, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    chains, out = anchored
    chains.tamper("delete from mapper.audit_chain_heads where tenant_id = %(t)s", {"t": TENANT_A})
    found = chains.verify_in_db(TENANT_A)
    assert len(found) == 1
    assert "head is missing" in found[0][1]
    for checkpoints in (out, None):
        result = verify(capsys, chains, checkpoints)
        assert result.code == 1
        assert statuses(result) == {A: ("missing_head", LINKS), B: ("intact", None)}


def delete_chain(chains: Chains) -> None:
    for table in ("audit_records", "audit_chain_heads"):
        chains.tamper(f"delete from mapper.{table} where tenant_id = %(t)s", {"t": TENANT_A})


def test_a_deleted_chain_is_missing(
    anchored: tuple[Chains, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Links and head gone: the checkpoint knows the tenant had a chain, and so does its
    configuration; --tenant names it even without either."""
    chains, out = anchored
    delete_chain(chains)
    found = chains.verify_in_db(TENANT_A)
    assert len(found) == 1
    assert "no audit chain" in found[0][1]
    for checkpoints in (out, None):
        result = verify(capsys, chains, checkpoints)
        assert result.code == 1
        assert statuses(result) == {A: ("chain_missing", None), B: ("intact", None)}
    # The tenant's configuration removed too, by the same hand: only the checkpoint remembers.
    chains.tamper("delete from mapper.tenant_configs where tenant_id = %(t)s", {"t": TENANT_A})
    result = verify(capsys, chains, None)
    assert statuses(result) == {B: ("intact", None)}
    result = verify(capsys, chains, out)
    assert result.code == 1
    assert statuses(result)[A] == ("chain_missing", None)


def test_the_database_verifier_never_calls_a_chain_it_cannot_see_intact(chains: Chains) -> None:
    assert chains.verify_in_db(TENANT_A) == []
    assert chains.verify_in_db(TENANT_A, TENANT_A) == []
    cases = {
        "no tenant context": (None, None, "no tenant to verify"),
        "context of another tenant": (TENANT_B, TENANT_A, "not the tenant in context"),
        "no context, a tenant named": (None, TENANT_A, "not the tenant in context"),
        "unknown tenant": (UNKNOWN, None, "unknown tenant"),
    }
    for case, (context, named, problem) in cases.items():
        found = chains.verify_in_db(context, named)
        assert len(found) == 1, case
        assert found[0][0] is None, case
        assert problem in found[0][1], case


def test_the_cli_verifier_fails_for_an_unknown_tenant(
    chains: Chains, capsys: pytest.CaptureFixture[str]
) -> None:
    result = verify(capsys, chains, None, "--tenant", str(UNKNOWN))
    assert result.code == 1
    assert statuses(result) == {str(UNKNOWN): ("chain_missing", None)}
    assert verify(capsys, chains, None, "--tenant", A).code == 0


@pytest.mark.parametrize("user", ["anchor_app", "anchor_readonly"])
def test_only_the_auditor_reads_every_head(chains: Chains, user: str) -> None:
    with (
        psycopg.connect(chains.db.conninfo(user)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("select * from mapper.audit_chain_heads_all()")


def test_every_head_function_is_least_privilege(chains: Chains) -> None:
    """SECURITY DEFINER with a pinned search_path, owned by mapper_owner, executable by
    mapper_auditor and nobody else of the contract's roles."""
    with psycopg.connect(chains.db.superuser_conninfo) as conn:
        row = conn.execute(
            "select p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner), "
            "has_function_privilege('mapper_app', p.oid, 'execute'), "
            "has_function_privilege('mapper_readonly', p.oid, 'execute'), "
            "has_function_privilege('mapper_auditor', p.oid, 'execute'), "
            "has_function_privilege('public', p.oid, 'execute') "
            "from pg_proc as p where p.oid = 'mapper.audit_chain_heads_all'::regproc"
        ).fetchone()
    assert row is not None
    secdef, config, owner, app, readonly, auditor, public = row
    assert secdef and owner == "mapper_owner"
    assert "search_path=pg_catalog, pg_temp" in config
    assert (app, readonly, auditor, public) == (False, False, True, False)
    with psycopg.connect(chains.auditor_dsn) as conn:
        heads = conn.execute(
            "select tenant_id, chain_seq from mapper.audit_chain_heads_all()"
        ).fetchall()
    assert heads == [(TENANT_A, LINKS), (TENANT_B, LINKS)]


def test_every_head_reading_leaves_no_maintenance_mode_behind(chains: Chains) -> None:
    """audit_chain_heads_all() reads in the owner's maintenance mode for its one query only: the
    caller's transaction has it off afterwards (and it is STABLE: it cannot write)."""
    with psycopg.connect(chains.auditor_dsn) as conn, conn.transaction():
        assert len(conn.execute("select * from mapper.audit_chain_heads_all()").fetchall()) == 2
        row = conn.execute("select current_setting('mapper.maintenance', true)").fetchone()
        assert row is not None and row[0] in (None, "")
        volatility = conn.execute(
            "select provolatile from pg_proc where oid = 'mapper.audit_chain_heads_all'::regproc"
        ).fetchone()
    assert volatility == ("s",)
