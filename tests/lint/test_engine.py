"""The gate on small migration sets: whole-set context, suppressions, syntax errors, downs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mapperdb.errors import ConfigError
from mapperdb.findings import Severity
from mapperdb.lint.api import lint
from tests.lint.conftest import FIXTURES, git, write_set

ORDERS = "create table mapper.orders (id bigint generated always as identity primary key);\n"


def rules_at(findings: list, name: str) -> list[tuple[int, str]]:
    return sorted((f.line, f.rule) for f in findings if f.file.endswith(name))


def test_lock_set_reports_only_unsuppressed_findings(in_tmp: Path) -> None:
    shutil.copytree(FIXTURES / "lock_set", in_tmp / "m")
    result = lint([in_tmp / "m"], style=False)
    assert rules_at(result.findings, "0002_indexes.up.sql") == [(2, "LOCK001")]
    # A suppression without a reason is an error and suppresses nothing.
    assert rules_at(result.findings, "0003_drop_note.up.sql") == [(1, "HYG003"), (2, "LOCK009")]
    # Downs may drop what their up created; indexes made by the same migration are not "existing".
    assert not [f for f in result.findings if f.file.endswith(".down.sql")]
    assert result.exit_code == 1


def test_rls_is_judged_on_the_final_state_of_the_set(in_tmp: Path) -> None:
    shutil.copytree(FIXTURES / "tenant_set", in_tmp / "m")
    result = lint([in_tmp / "m"], style=False)
    # storage_records gets RLS in 0002: quiet. tenant_configs is enabled but never forced.
    assert [(f.rule, f.line, f.message) for f in result.findings] == [
        ("TEN001", 2, "tenant table mapper.tenant_configs has row-level security not forced")
    ]


def test_a_single_file_is_linted_with_the_context_of_its_directory(in_tmp: Path) -> None:
    shutil.copytree(FIXTURES / "tenant_set", in_tmp / "m")
    result = lint([in_tmp / "m" / "0002_rls.up.sql"], style=False)
    # The finding sits where the table was created, and is reported because 0002 touched it.
    assert [f.rule for f in result.findings] == ["TEN001"]
    assert result.files == ["m/0002_rls.up.sql"]


def test_same_migration_is_not_existing_but_earlier_is(in_tmp: Path) -> None:
    write_set(
        in_tmp / "m",
        (
            ("0001_a.up.sql", ORDERS + "create index orders_a on mapper.orders (id);\n"),
            ("0001_a.down.sql", "drop table mapper.orders;\n"),
            ("0002_b.up.sql", "create index orders_b on mapper.orders (id);\n"),
            ("0002_b.down.sql", "drop index mapper.orders_b;\n"),
        ),
    )
    findings = lint([in_tmp / "m"], style=False).findings
    assert [(f.file, f.rule) for f in findings] == [("m/0002_b.up.sql", "LOCK001")]


def test_syntax_error_is_a_finding_at_its_line_and_the_rest_is_still_linted(in_tmp: Path) -> None:
    sql = (
        ORDERS.replace("orders", "jobs")
        + "\ncreate tabel mapper.broken (id bigint);\n"
        + "create table mapper.events (at timestamp);\n"
    )
    write_set(in_tmp / "m", (("0001_a.up.sql", sql), ("0001_a.down.sql", "select 1;\n")))
    findings = lint([in_tmp / "m"], style=False).findings
    assert [(f.line, f.rule, f.severity) for f in findings] == [
        (3, "SYN001", Severity.ERROR),
        (4, "TYPE001", Severity.ERROR),
    ]
    assert "tabel" in findings[0].message


def test_unterminated_string_is_a_syntax_finding(in_tmp: Path) -> None:
    write_set(
        in_tmp / "m", (("0001_a.up.sql", "select 'oops;\n"), ("0001_a.down.sql", "select 1;\n"))
    )
    findings = lint([in_tmp / "m"], style=False).findings
    assert [f.rule for f in findings] == ["SYN001"]


def test_unknown_and_unused_suppressions(in_tmp: Path) -> None:
    sql = (
        ORDERS
        + "-- mapperdb:allow NOPE001 reason: typo in the id\n"
        + "create table mapper.a (id bigint generated always as identity primary key);\n"
        + "-- mapperdb:allow TYPE001 reason: nothing here uses timestamp\n"
        + "create table mapper.b (id bigint generated always as identity primary key);\n"
    )
    write_set(in_tmp / "m", (("0001_a.up.sql", sql), ("0001_a.down.sql", "select 1;\n")))
    findings = lint([in_tmp / "m"], style=False).findings
    assert [(f.line, f.rule, f.severity) for f in findings] == [
        (2, "HYG003", Severity.ERROR),
        (4, "HYG004", Severity.WARNING),
    ]


def test_concurrently_is_allowed_only_in_no_transaction_files(in_tmp: Path) -> None:
    index = "create index concurrently orders_i on mapper.orders (id);\n"
    write_set(
        in_tmp / "m",
        (
            ("0001_a.up.sql", ORDERS),
            ("0001_a.down.sql", "drop table mapper.orders;\n"),
            ("0002_b.up.sql", "-- mapperdb:no-transaction\n-- mapperdb:lock-timeout 10s\n" + index),
            (
                "0002_b.down.sql",
                "-- mapperdb:no-transaction\ndrop index concurrently mapper.orders_i;\n",
            ),
            ("0003_c.up.sql", "-- Header comment first: the directive must be line 1.\n" + index),
            ("0003_c.down.sql", "select 1;\n"),
        ),
    )
    findings = lint([in_tmp / "m"], style=False).findings
    assert [(f.file, f.rule) for f in findings] == [("m/0003_c.up.sql", "LOCK011")]


def test_missing_path_is_a_usage_error(in_tmp: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        lint([in_tmp / "nope"], style=False)
    with pytest.raises(ConfigError, match="sql/migrations"):
        lint(None, style=False)


def test_changed_since_lints_changed_files_with_full_context(in_tmp: Path) -> None:
    migrations = in_tmp / "sql" / "migrations"
    shutil.copytree(FIXTURES / "tenant_set", migrations)
    git(in_tmp, "init", "-q", "-b", "main")
    git(in_tmp, "add", "-A")
    git(in_tmp, "commit", "-q", "-m", "base")
    assert lint(None, "HEAD", style=False).findings == []  # nothing changed
    (migrations / "0003_index.up.sql").write_text(
        "create index storage_records_payload_idx on mapper.storage_records using gin (payload);\n"
    )
    (migrations / "0003_index.down.sql").write_text(
        "drop index mapper.storage_records_payload_idx;\n"
    )
    result = lint(None, "HEAD", style=False)
    # Only the new files are linted, yet the rule knows storage_records came from an earlier one.
    assert result.files == [
        "sql/migrations/0003_index.down.sql",
        "sql/migrations/0003_index.up.sql",
    ]
    assert [f.rule for f in result.findings] == ["LOCK001"]
    with pytest.raises(ConfigError, match="no-such-ref"):
        lint(None, "no-such-ref", style=False)


def test_changed_since_flags_edits_and_deletions_of_base_migrations(in_tmp: Path) -> None:
    migrations = in_tmp / "sql" / "migrations"
    shutil.copytree(FIXTURES / "lock_set", migrations)
    git(in_tmp, "init", "-q", "-b", "main")
    git(in_tmp, "add", "-A")
    git(in_tmp, "commit", "-q", "-m", "base")
    up = migrations / "0001_orders.up.sql"
    up.write_text(up.read_text() + "comment on table mapper.orders is 'edited';\n")
    (migrations / "0003_drop_note.down.sql").unlink()
    findings = lint(None, "HEAD", style=False).findings
    assert sorted((f.file, f.rule) for f in findings if f.rule == "HYG002") == [
        ("sql/migrations/0001_orders.up.sql", "HYG002"),
        ("sql/migrations/0003_drop_note.down.sql", "HYG002"),
    ]


@pytest.mark.parametrize(
    ("constraint", "rule"),
    [
        ("check (id > 0)", "LOCK004"),
        ("foreign key (id) references mapper.orders (id)", "LOCK003"),
    ],
)
def test_validating_in_the_transaction_that_added_not_valid(
    in_tmp: Path, constraint: str, rule: str
) -> None:
    change = (
        f"alter table mapper.orders add constraint orders_c {constraint} not valid;\n"
        "alter table mapper.orders validate constraint orders_c;\n"
    )
    sets = {
        "transaction": change,
        "autocommit": "-- mapperdb:no-transaction\n" + change,
    }
    found = {}
    for name, sql in sets.items():
        write_set(
            in_tmp / name,
            (
                ("0001_a.up.sql", ORDERS),
                ("0001_a.down.sql", "drop table mapper.orders;\n"),
                ("0002_b.up.sql", sql),
                ("0002_b.down.sql", "alter table mapper.orders drop constraint orders_c;\n"),
            ),
        )
        found[name] = [(f.line, f.rule) for f in lint([in_tmp / name], style=False).findings]
    assert found == {"transaction": [(2, rule)], "autocommit": []}


def test_unusual_statements_and_unknown_objects_do_not_crash(in_tmp: Path) -> None:
    shutil.copytree(FIXTURES / "odd_set", in_tmp / "m")
    findings = lint([in_tmp / "m"], style=False).findings
    assert [(f.line, f.rule) for f in findings] == [
        (2, "TEN001"),
        (2, "TEN002"),
        (11, "TEN010"),
        (12, "TEN003"),
        (13, "TEN004"),
        (15, "TEN011"),
        (22, "TEN010"),
        (29, "TYPE001"),
        (31, "STY002"),
        (32, "STY002"),
        (46, "TEN011"),
        (47, "TYPE004"),
    ]


@pytest.mark.parametrize(
    ("default", "fires"),
    [
        ("uuidv7()", True),  # PostgreSQL 18's, unknown here: counts as volatile
        ("extensions.uuid_generate_v7()", True),  # an extension's
        ("mapper.next_code()", True),  # declared without a volatility: volatile
        ("now()", False),
        ("current_timestamp", False),
        ("mapper.tenant_default()", False),  # declared stable by the setup
        ("'x' || lower('Y')", False),
    ],
)
def test_defaults_call_only_functions_known_not_volatile(
    in_tmp: Path, default: str, fires: bool
) -> None:
    setup = (
        ORDERS
        + "create function mapper.next_code() returns text language sql as $$ select 'a' $$;\n"
        + "create function mapper.tenant_default() returns text language sql stable\n"
        + "    as $$ select current_setting('app.tenant_id') $$;\n"
    )
    write_set(
        in_tmp / "m",
        (
            ("0001_a.up.sql", setup),
            ("0001_a.down.sql", "drop table mapper.orders;\n"),
            ("0002_b.up.sql", f"alter table mapper.orders add column c text default {default};\n"),
            ("0002_b.down.sql", "alter table mapper.orders drop column c;\n"),
        ),
    )
    found = [f.rule for f in lint([in_tmp / "m"], style=False).findings if f.rule == "LOCK007"]
    assert found == (["LOCK007"] if fires else [])


def test_concurrent_index_on_a_partitioned_table_created_in_the_same_set(in_tmp: Path) -> None:
    write_set(
        in_tmp / "m",
        (
            (
                "0001_a.up.sql",
                "create table mapper.events (at timestamptz not null) partition by range (at);\n",
            ),
            ("0001_a.down.sql", "drop table mapper.events;\n"),
            (
                "0002_b.up.sql",
                "-- mapperdb:no-transaction\n"
                "create index concurrently events_at_idx on mapper.events (at);\n",
            ),
            ("0002_b.down.sql", "drop index mapper.events_at_idx;\n"),
        ),
    )
    findings = lint([in_tmp / "m"], style=False).findings
    assert [(f.file, f.line, f.rule) for f in findings] == [("m/0002_b.up.sql", 2, "LOCK016")]
    assert "ONLY the parent" in findings[0].message
