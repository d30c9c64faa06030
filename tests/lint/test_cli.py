"""``mapperdb lint`` end to end: formats, exit codes, the default path, the generated docs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mapperdb.cli import main
from mapperdb.lint.docs import rules_markdown
from tests.lint.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["lint", *args])
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_default_path_and_exit_1_on_errors(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(FIXTURES / "tenant_set", in_tmp / "sql" / "migrations")
    code, out, _ = run(capsys, "--no-style")
    assert code == 1
    assert out == (
        "sql/migrations/0001_tables.up.sql:2:1: TEN001 tenant table mapper.tenant_configs "
        "has row-level security not forced\n"
    )


def test_clean_set_exits_0_even_with_warnings(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations = in_tmp / "m"
    migrations.mkdir()
    (migrations / "0001_a.up.sql").write_text(
        "create table mapper.t (id bigint generated always as identity primary key);\n"
        "-- mapperdb:allow LOCK001 reason: kept for the test\n"
        "select 1;\n"
    )
    (migrations / "0001_a.down.sql").write_text("drop table mapper.t;\n")
    code, out, _ = run(capsys, "--no-style", "--format", "json", str(migrations))
    assert code == 0
    assert [f["rule"] for f in json.loads(out)["findings"]] == ["HYG004"]


def test_usage_errors_exit_2(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--no-style", "missing_dir")
    assert code == 2
    assert err.strip() == "mapperdb: error: no such file or directory: missing_dir"
    code, _, err = run(capsys, "--format", "xml")
    assert code == 2
    assert "xml" in err


def test_sarif_and_github_formats(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(FIXTURES / "lock_set", in_tmp / "m")
    code, out, _ = run(capsys, "--no-style", "--format", "sarif", "m")
    assert code == 1
    results = json.loads(out)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"LOCK001", "LOCK009", "HYG003"}
    code, out, _ = run(capsys, "--no-style", "--format", "github", "m")
    assert out.startswith("::error file=m/0002_indexes.up.sql,line=2,col=37,title=LOCK001::")


def test_rules_doc_is_current() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text("utf-8")
    assert committed == rules_markdown(), (
        "docs/rules.md is stale: run `.venv/bin/python -m mapperdb.lint.docs --write`"
    )


def test_rules_doc_flag_prints_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--rules-doc")
    assert code == 0
    assert out == rules_markdown()
    for rule_id in ("LOCK001", "TEN001", "HYG002", "TYPE005"):
        assert f"### {rule_id} " in out
