"""The sqlfluff stage: in process, with the repository's .sqlfluff, never silent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mapperdb.lint import sqlfluff_stage
from mapperdb.lint.api import lint
from tests.lint.conftest import write_set

ROOT = Path(__file__).resolve().parents[2]
TABLE = "create table mapper.jobs (id bigint generated always as identity primary key);\n"
DETACH = (
    "create table mapper.events (at timestamptz not null) partition by range (at);\n"
    "create table mapper.events_2026 partition of mapper.events\n"
    "    for values from ('2026-01-01') to ('2027-01-01');\n"
    "alter table mapper.events detach partition mapper.events_2026 concurrently;\n"
)


def with_repo_config(root: Path) -> Path:
    shutil.copy(ROOT / ".sqlfluff", root / ".sqlfluff")
    return root / "m"


def test_style_findings_use_the_project_config(in_tmp: Path) -> None:
    migrations = with_repo_config(in_tmp)
    write_set(
        migrations, (("0001_a.up.sql", "SELECT 1;\n" + TABLE), ("0001_a.down.sql", "select 1;\n"))
    )
    findings = lint([migrations]).findings
    assert [(f.line, f.rule) for f in findings] == [(1, "SQLFLUFF-CP01")]


def test_parse_gap_is_a_warning_naming_the_statement(in_tmp: Path) -> None:
    migrations = with_repo_config(in_tmp)
    sql = "-- mapperdb:no-transaction\n" + DETACH
    write_set(migrations, (("0001_a.up.sql", sql), ("0001_a.down.sql", "select 1;\n")))
    result = lint([migrations])
    gaps = [f for f in result.findings if f.rule == "STY001"]
    assert [(f.line, f.severity.value) for f in gaps] == [(5, "warning")]
    assert "alter table mapper.events detach partition" in gaps[0].message
    assert result.exit_code == 0


def test_large_files_are_not_skipped(in_tmp: Path) -> None:
    migrations = with_repo_config(in_tmp)
    padding = "".join(f"comment on table mapper.jobs is 'note {i:05d}';\n" for i in range(600))
    sql = TABLE + padding + "SELECT 1;\n"
    assert len(sql.encode()) > 20_000  # sqlfluff's default large_file_skip_byte_limit
    write_set(migrations, (("0001_a.up.sql", sql), ("0001_a.down.sql", "select 1;\n")))
    findings = lint([migrations]).findings
    assert [(f.line, f.rule) for f in findings] == [(602, "SQLFLUFF-CP01")]


def test_style_suppression_works_like_any_other(in_tmp: Path) -> None:
    migrations = with_repo_config(in_tmp)
    sql = "-- mapperdb:allow SQLFLUFF-CP01 reason: quoting a vendor's script verbatim\nSELECT 1;\n"
    write_set(migrations, (("0001_a.up.sql", sql), ("0001_a.down.sql", "select 1;\n")))
    assert lint([migrations]).findings == []


def test_many_files_are_linted_in_parallel_with_the_same_result(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = with_repo_config(in_tmp)
    files = []
    for version in range(1, 5):
        files.append((f"{version:04d}_a.up.sql", f"SELECT {version};\n"))
        files.append((f"{version:04d}_a.down.sql", "select 1;\n"))
    write_set(migrations, tuple(files))
    serial = lint([migrations]).findings
    monkeypatch.setattr(sqlfluff_stage, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(sqlfluff_stage.os, "cpu_count", lambda: 2)
    assert lint([migrations]).findings == serial
    assert [(f.file, f.rule) for f in serial] == [
        (f"m/{v:04d}_a.up.sql", "SQLFLUFF-CP01") for v in range(1, 5)
    ]


def test_workers_are_spawned_when_the_caller_has_threads(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = with_repo_config(in_tmp)
    write_set(
        migrations,
        tuple((f"{v:04d}_a.{d}.sql", "SELECT 1;\n") for v in (1, 2) for d in ("up", "down")),
    )
    monkeypatch.setattr(sqlfluff_stage, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(sqlfluff_stage.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(sqlfluff_stage.threading, "active_count", lambda: 2)
    findings = lint([migrations]).findings
    assert [f.rule for f in findings] == ["SQLFLUFF-CP01"] * 4


def test_sql_neither_parser_accepts_is_one_syntax_error(in_tmp: Path) -> None:
    migrations = with_repo_config(in_tmp)
    sql = TABLE + "create tabel mapper.broken (id bigint);\n"
    write_set(migrations, (("0001_a.up.sql", sql), ("0001_a.down.sql", "select 1;\n")))
    assert [(f.line, f.rule) for f in lint([migrations]).findings] == [(2, "SYN001")]
