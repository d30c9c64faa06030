"""The style stage's cache: an unchanged file is not parsed again, and nothing its verdict
depends on (the text, any settings file sqlfluff reads, its version) changes without a miss."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mapperdb.lint import sqlfluff_stage
from mapperdb.lint.api import lint
from tests.lint.conftest import write_set
from tests.lint.test_style import DETACH, TABLE, with_repo_config

FILES = (
    ("0001_a.up.sql", "SELECT 1;\n" + TABLE),
    ("0001_a.down.sql", "select 1;\n"),
    ("0002_b.up.sql", "-- mapperdb:no-transaction\n" + DETACH),
    ("0002_b.down.sql", "select 1;\n"),
)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("MAPPERDB_LINT_CACHE", "on")
    monkeypatch.setenv("MAPPERDB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "lint"


def entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.json")) if cache.is_dir() else []


def summary(migrations: Path) -> list[tuple[str, int, int, str, str]]:
    return [(f.file, f.line, f.column, f.rule, f.message) for f in lint([migrations]).findings]


def test_a_warm_run_finds_the_same_without_importing_sqlfluff(in_tmp: Path, cache: Path) -> None:
    migrations = with_repo_config(in_tmp)
    write_set(migrations, FILES)
    cold = summary(migrations)
    assert {rule for _, _, _, rule, _ in cold} == {"SQLFLUFF-CP01", "STY001"}
    assert len(entries(cache)) == len({text for _, text in FILES})  # keyed by content
    assert summary(migrations) == cold
    # A fresh process: a run where every file hits never imports sqlfluff.
    code = (
        "import sys; from pathlib import Path; from mapperdb.lint.api import lint\n"
        f"found = lint([Path({str(migrations)!r})]).findings\n"
        "print(len(found), 'sqlfluff' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [str(len(cold)), "False"]


def test_changed_text_or_settings_are_misses(in_tmp: Path, cache: Path) -> None:
    migrations = with_repo_config(in_tmp)
    write_set(migrations, FILES)
    before = summary(migrations)
    assert any(rule == "SQLFLUFF-CP01" for _, _, _, rule, _ in before)
    # The same text under other settings: upper-case keywords are now the rule.
    keywords = "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = "
    settings = (in_tmp / ".sqlfluff").read_text()
    assert keywords + "lower" in settings
    (in_tmp / ".sqlfluff").write_text(settings.replace(keywords + "lower", keywords + "upper"))
    upper = summary(migrations)
    assert upper != before
    assert len(entries(cache)) == 2 * len({text for _, text in FILES})
    # A settings file nearer the migrations counts too (any sqlfluff reads), and so does the text.
    (migrations / "pep8.ini").write_text("[sqlfluff]\nexclude_rules = CP01\n")
    assert not any(rule == "SQLFLUFF-CP01" for _, _, _, rule, _ in summary(migrations))
    write_set(migrations, (("0001_a.up.sql", "select 1;\n" + TABLE), FILES[1]))
    assert summary(migrations) == []


def test_a_broken_entry_is_linted_again_and_off_keeps_nothing(
    in_tmp: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = with_repo_config(in_tmp)
    write_set(migrations, FILES)
    cold = summary(migrations)
    for entry in entries(cache):
        entry.write_text("{not json")
    assert summary(migrations) == cold
    assert all(isinstance(json.loads(e.read_text()), list) for e in entries(cache))

    monkeypatch.setenv("MAPPERDB_LINT_CACHE", "off")
    write_set(migrations, (("0001_a.up.sql", "select 2;\n" + TABLE), FILES[1]))
    before = entries(cache)
    assert summary(migrations) == []
    assert entries(cache) == before


def test_the_key_reads_every_settings_file_sqlfluff_reads() -> None:
    from sqlfluff.core.config import loader

    tree = ast.parse(inspect.getsource(loader.load_config_at_path).lstrip())
    [names] = [
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "filename_options" for t in node.targets)
    ]
    assert set(names) == set(sqlfluff_stage.SETTINGS_FILES), "update SETTINGS_FILES"


def test_a_cache_others_can_write_is_not_used(
    in_tmp: Path, cache: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    migrations = with_repo_config(in_tmp)
    write_set(migrations, FILES[:2])
    cold = summary(migrations)
    assert any(rule == "SQLFLUFF-CP01" for _, _, _, rule, _ in cold)
    # Another local user plants "no findings" for the file, in a cache anyone may write.
    for entry in entries(cache):
        entry.write_text("[]")
    cache.parent.chmod(0o777)
    try:
        assert summary(migrations) == cold
        assert summary(migrations) == cold
    finally:
        cache.parent.chmod(0o700)
    warnings = [
        line for line in capfd.readouterr().err.splitlines() if "not using the cache" in line
    ]
    assert warnings == [
        f"mapperdb: not using the cache {cache.parent}: others may write it (chmod go-w)"
    ]
