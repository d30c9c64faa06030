"""Helpers to lint small migration sets written into a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapperdb.lint.api import LintResult, lint
from mapperdb.lint.rule import Example

FIXTURES = Path(__file__).parent / "fixtures"


def git(cwd: Path, *args: str) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is required for these tests: apt-get install -y git")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def write_set(directory: Path, files: tuple[tuple[str, str], ...]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.sql"):
        old.unlink()
    for name, text in files:
        (directory / name).write_text(text, "utf-8")


def lint_example(root: Path, example: Example, *, style: bool = False) -> LintResult:
    """Lints an example set the way the CLI would: from the repository root, on sql/migrations."""
    migrations = root / "sql" / "migrations"
    changed_since = None
    if example.base:
        git(root, "init", "-q", "-b", "main")
        write_set(migrations, example.base)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "base")
        changed_since = "HEAD"
    write_set(migrations, example.migration_files())
    return lint([migrations], changed_since, style=style)


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """Runs the test from a fresh directory, as from a repository root."""
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


@pytest.fixture(autouse=True)
def no_lint_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about what sqlfluff finds: each run asks it (tests/lint/test_cache.py
    turns the cache on where the cache is what is tested)."""
    monkeypatch.setenv("MAPPERDB_LINT_CACHE", "off")
