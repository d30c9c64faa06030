"""Reach: other file layouts, settings in pyproject.toml, the repository's .sqlfluff from anywhere,
and safety findings ahead of style."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mapperdb.cli import main
from tests.lint.conftest import write_set

ROOT = Path(__file__).resolve().parents[2]
ORDERS = "create table mapper.orders (id bigint generated always as identity primary key);\n"
INDEX = "create index orders_id_idx on mapper.orders (id);\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["lint", *args])
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def settings(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.mapperdb.lint]\n{body}")


def rules(out: str) -> list[str]:
    return [f["rule"] for f in json.loads(out)["findings"]]


def test_a_path_without_migrations_of_the_pattern_is_exit_2_naming_it(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_set(in_tmp / "m", (("20240101120000_orders.sql", ORDERS),))
    code, out, err = run(capsys, "--no-style", "m")
    assert (code, out) == (2, "")
    assert err.strip() == (
        "mapperdb: error: m: no migration files named like {version:4}_{slug}.{direction}.sql; "
        "set `pattern` under [tool.mapperdb.lint] in pyproject.toml to how this project names them"
    )
    code, _, err = run(capsys, "--no-style", "m/20240101120000_orders.sql")
    assert code == 2 and "no migration files named like" in err


def test_timestamp_names_without_down_files(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings(in_tmp, 'pattern = "{version:14}_{slug}.sql"\n')
    write_set(
        in_tmp / "m",
        (("20240101120000_orders.sql", ORDERS), ("20240301090000_orders_id.sql", INDEX)),
    )
    code, out, _ = run(capsys, "--no-style", "--format", "json", "m")
    assert code == 1
    # The index is on a table of an earlier migration; no HYG001, the layout has no downs.
    findings = json.loads(out)["findings"]
    assert [(f["file"], f["rule"]) for f in findings] == [
        ("m/20240301090000_orders_id.sql", "LOCK001")
    ]


def test_one_folder_per_migration(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings(in_tmp, 'pattern = "{version:4}_{slug}/{direction}.sql"\n')
    migrations = in_tmp / "db" / "migrations"
    for name, up, down in (
        ("0001_orders", ORDERS, "drop table mapper.orders;\n"),
        ("0002_orders_id", INDEX, "drop index mapper.orders_id_idx;\n"),
    ):
        (migrations / name).mkdir(parents=True)
        (migrations / name / "up.sql").write_text(up)
        (migrations / name / "down.sql").write_text(down)
    expected = [("db/migrations/0002_orders_id/up.sql", "LOCK001")]
    for target in (
        "db/migrations",
        "db/migrations/0002_orders_id",
        "db/migrations/0002_orders_id/up.sql",
    ):
        code, out, _ = run(capsys, "--no-style", "--format", "json", target)
        findings = json.loads(out)["findings"]
        assert (code, [(f["file"], f["rule"]) for f in findings]) == (1, expected), target


def test_rules_are_selected_ignored_and_regraded(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_set(
        in_tmp / "m",
        (
            ("0001_a.up.sql", ORDERS + "create table mapper.events (at timestamp);\n"),
            ("0001_a.down.sql", "select 1;\n"),
            ("0002_b.up.sql", INDEX),
            ("0002_b.down.sql", "select 1;\n"),
        ),
    )
    code, out, _ = run(capsys, "--no-style", "--format", "json", "m")
    assert (code, rules(out)) == (1, ["TYPE001", "LOCK001"])
    settings(in_tmp, 'ignore = ["TYPE"]\n')
    assert run(capsys, "--no-style", "--format", "json", "m")[1:2] == (
        json.dumps({"findings": json.loads(out)["findings"][1:]}, indent=2) + "\n",
    )
    settings(
        in_tmp,
        'select = ["LOCK001", "TYPE"]\nseverity = { lock001 = "warning", TYPE001 = "info" }\n',
    )
    code, out, _ = run(capsys, "--no-style", "--format", "json", "m")
    grades = [(f["rule"], f["severity"]) for f in json.loads(out)["findings"]]
    assert (code, grades) == (0, [("TYPE001", "info"), ("LOCK001", "warning")])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('pattern = "{version}.sql"\n', "pattern: migration file pattern '{version}.sql': needs"),
        ("style = 'maybe'\n", "style: Input should be a valid boolean"),
        ("colour = true\n", "colour: Unexpected keyword argument"),
        ('severity = { LOCK001 = "fatal" }\n', "severity.LOCK001: Input should be"),
        ('ignore = ["NOPE001"]\n', "names unknown rule(s) NOPE001"),
    ],
)
def test_bad_settings_are_one_line_exit_2(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    settings(in_tmp, body)
    write_set(in_tmp / "m", (("0001_a.up.sql", ORDERS), ("0001_a.down.sql", "select 1;\n")))
    code, out, err = run(capsys, "m")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1
    assert "pyproject.toml" in err and message in err


def test_style_off_in_settings_and_on_the_command_line(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / ".sqlfluff", in_tmp / ".sqlfluff")
    write_set(in_tmp / "m", (("0001_a.up.sql", "SELECT 1;\n"), ("0001_a.down.sql", "select 1;\n")))
    assert rules(run(capsys, "--format", "json", "m")[1]) == ["SQLFLUFF-CP01"]
    assert rules(run(capsys, "--no-style", "--format", "json", "m")[1]) == []
    settings(in_tmp, "style = false\n")
    assert rules(run(capsys, "--format", "json", "m")[1]) == []


def test_repository_sqlfluff_settings_apply_from_a_subdirectory(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings(in_tmp, "")
    shutil.copy(ROOT / ".sqlfluff", in_tmp / ".sqlfluff")
    migrations = in_tmp / "sql" / "migrations"
    write_set(migrations, (("0001_a.up.sql", "SELECT 1;\n"), ("0001_a.down.sql", "select 1;\n")))
    os.chdir(in_tmp / "sql")
    code, out, _ = run(capsys, "--format", "json", "migrations")
    assert (code, rules(out)) == (1, ["SQLFLUFF-CP01"])
    # With no path, `directory` is found from the repository root too.
    assert rules(run(capsys, "--format", "json")[1]) == ["SQLFLUFF-CP01"]


def test_text_lists_safety_errors_before_style(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / ".sqlfluff", in_tmp / ".sqlfluff")
    write_set(
        in_tmp / "m",
        (
            ("0001_a.up.sql", ORDERS),
            ("0001_a.down.sql", "drop table mapper.orders;\n"),
            ("0002_b.up.sql", "SELECT 1;\n-- mapperdb:allow LOCK001\n" + INDEX),
            ("0002_b.down.sql", "drop index mapper.orders_id_idx;\n"),
        ),
    )
    code, out, _ = run(capsys, "m")
    assert code == 1
    assert [line.split(" ")[1] for line in out.splitlines()] == [
        "HYG003",
        "LOCK001",
        "SQLFLUFF-CP01",
    ]
    assert out.splitlines()[2].startswith("m/0002_b.up.sql:1:1:")
