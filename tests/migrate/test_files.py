"""Migration files: names, pairs, directives and the normalised checksum."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from pglast import split

from mapperdb.errors import ConfigError
from mapperdb.migrate.files import (
    DEFAULT_PATTERN,
    MigrationSyntaxError,
    Name,
    Pattern,
    checksum,
    load_migrations,
    read_file,
)
from mapperdb.migrate.runner import concurrent_index
from tests.conftest import MIGRATIONS

from .helpers import write


def test_loads_pairs_in_version_order(tmp_path: Path) -> None:
    write(tmp_path, 2, "second", "select 2;", "select -2;")
    write(tmp_path, 1, "first", "select 1;", "select -1;")
    (tmp_path / "README.md").write_text("ignored")
    migrations = load_migrations(tmp_path)
    assert [(m.version, m.name) for m in migrations] == [(1, "first"), (2, "second")]


@pytest.mark.parametrize(
    "name",
    [
        "1_short.up.sql",
        "0001-dash.up.sql",
        "0001_Upper.up.sql",
        "0001_x.sql",
        "0001_x.sideways.sql",
    ],
)
def test_malformed_name_is_an_error_naming_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("select 1;")
    with pytest.raises(ConfigError, match=f"{name}: malformed migration file name"):
        load_migrations(tmp_path)


def test_duplicate_version_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, 1, "alpha", "select 1;", "select 1;")
    write(tmp_path, 1, "beta", "select 1;", "select 1;")
    with pytest.raises(ConfigError, match=r"0001_beta\.down\.sql: duplicate version 0001"):
        load_migrations(tmp_path)


def test_missing_down_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "0001_alone.up.sql").write_text("select 1;")
    with pytest.raises(ConfigError, match=r"0001_alone\.up\.sql: missing its down file"):
        load_migrations(tmp_path)


def test_directives_are_read_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "0001_x.up.sql"
    path.write_text(
        "-- mapperdb:no-transaction\n-- why: big table\n-- mapperdb:lock-timeout 250ms\n"
        "-- mapperdb:statement-timeout 2h\n-- mapperdb:lock-retries 9\nselect 1;\n"
        "-- mapperdb:lock-timeout 1s\n"  # after the first statement: not a header any more
    )
    d = read_file(path).directives
    assert (d.transaction, d.lock_timeout, d.statement_timeout, d.lock_retries) == (
        False,
        "250ms",
        "2h",
        9,
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("select 1;\n", None),
        ("-- hi\n-- mapperdb:no-transaction\nselect 1;", "must be the first line"),
        ("-- mapperdb:lock-timeout soon\nselect 1;", "needs a PostgreSQL duration"),
        ("-- mapperdb:lock-retries many\nselect 1;", "needs a whole number"),
        ("-- mapperdb:transactional\nselect 1;", "unknown directive 'mapperdb:transactional'"),
    ],
)
def test_bad_directives_name_file_and_line(
    tmp_path: Path, header: str, message: str | None
) -> None:
    path = tmp_path / "0001_x.up.sql"
    path.write_text(header)
    if message is None:
        assert read_file(path).directives.transaction
        return
    with pytest.raises(ConfigError, match=message) as info:
        _ = read_file(path).directives
    assert str(path) + ":" in info.value.message


def test_checksum_ignores_line_endings_and_trailing_whitespace() -> None:
    base = "create table a (id bigint);\nselect 1;\n"
    assert checksum(base) == checksum(base.replace("\n", "\r\n"))
    assert checksum(base) == checksum("create table a (id bigint);   \nselect 1;\t\n\n\n")
    assert checksum(base) != checksum(base.replace("select 1", "select 2"))
    assert checksum(base) != checksum("  " + base)  # leading whitespace is content


def test_statements_are_split_by_postgres_parser_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "0001_x.up.sql"
    path.write_text(
        "-- header\ncreate table a (id bigint);\n\ndo $$ begin perform 1; end $$;\n"
        "create index concurrently if not exists a_id_ix on public.a (id);\n"
    )
    statements = read_file(path).runnable
    assert [s.line for s in statements] == [2, 4, 5]
    assert concurrent_index(statements[2]) == ("public", "a_id_ix")
    assert concurrent_index(statements[0]) is None


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "0001_x.up.sql"
    path.write_text("select 1;\n\ncreate tabel oops (id bigint);\n")
    with pytest.raises(MigrationSyntaxError, match=r"0001_x\.up\.sql:3: syntax error"):
        _ = read_file(path).runnable


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{version}.sql", "needs {version} and {slug} once each"),
        ("{version}_{slug}_{slug}.sql", "needs {version} and {slug} once each"),
        ("{version}_{slug}.up", "must end with .sql"),
        ("{version}_{name}.sql", "unknown placeholder {name}"),
        ("../{version}_{slug}.sql", "must be relative"),
    ],
)
def test_bad_patterns_are_named(template: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as info:
        Pattern.parse(template)
    assert template in info.value.message


@pytest.mark.parametrize(
    ("template", "relative", "name"),
    [
        (DEFAULT_PATTERN, "0007_add_x.down.sql", Name(7, "add_x", "down")),
        (DEFAULT_PATTERN, "7_add_x.up.sql", None),
        ("{version:14}_{slug}.sql", "20240101120000_init.sql", Name(20240101120000, "init", "up")),
        ("{version:14}_{slug}.sql", "20240101_init.sql", None),
        ("{version}_{slug}/{direction}.sql", "12_init/up.sql", Name(12, "init", "up")),
        ("{version}_{slug}/{direction}.sql", "12_init.up.sql", None),
    ],
)
def test_patterns_name_files(template: str, relative: str, name: Name | None) -> None:
    assert Pattern.parse(template).name(relative) == name


def test_one_folder_per_migration_loads_like_pairs(tmp_path: Path) -> None:
    for version, slug in ((2, "second"), (1, "first")):
        folder = tmp_path / f"{version:04d}_{slug}"
        folder.mkdir()
        (folder / "up.sql").write_text(f"select {version};\n")
        (folder / "down.sql").write_text(f"select -{version};\n")
    pattern = Pattern.parse("{version:4}_{slug}/{direction}.sql")
    migrations = load_migrations(tmp_path, pattern)
    assert [(m.label, m.up.path.name, m.down and m.down.path.name) for m in migrations] == [
        ("0001_first", "up.sql", "down.sql"),
        ("0002_second", "up.sql", "down.sql"),
    ]
    assert migrations[1].up.checksum == checksum("select 2;")


def test_up_only_layout_has_no_down_files(tmp_path: Path) -> None:
    (tmp_path / "20240101120000_init.sql").write_text("select 1;\n")
    pattern = Pattern.parse("{version:14}_{slug}.sql")
    [migration] = load_migrations(tmp_path, pattern)
    assert (migration.version, migration.down) == (20240101120000, None)


def test_statements_carry_offsets_and_the_suppressions_above_them(tmp_path: Path) -> None:
    path = tmp_path / "0001_x.up.sql"
    text = "-- why\nselect 1;\n-- mapperdb:allow LOCK001 reason: test\nselect 2; -- trailing\n"
    path.write_text(text)
    file = read_file(path)
    first, second = file.statements
    assert (first.index, first.line, text[first.start : first.end]) == (1, 2, "select 1")
    assert (second.line, second.sql) == (4, "select 2")
    assert [(a.rule, a.reason, a.line) for a in second.allows] == [("LOCK001", "test", 3)]
    assert first.allows == []


def test_checksums_keep_the_values_history_recorded() -> None:
    """History rows hold these values: the file model must never change how they are computed."""
    text = "-- why\r\ncreate table a (id bigint);  \r\nselect 1;\t\n\n"
    expected = hashlib.sha256(b"-- why\ncreate table a (id bigint);\nselect 1;").hexdigest()
    assert checksum(text) == expected


def test_statement_text_is_what_the_runner_always_recorded(tmp_path: Path) -> None:
    """Partial rows hold a checksum over each statement's text, as pglast's split cut it."""
    for path in sorted(MIGRATIONS.glob("*.sql")):
        file = read_file(path)
        old = [file.text[s] for s in split(file.text, with_parser=True, only_slices=True)]
        assert [s.sql for s in file.runnable] == old, path.name
