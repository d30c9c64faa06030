"""The code stays as clean as it is: ruff (lint and format) and mypy --strict, as configured in
pyproject.toml. A failure here prints the tools' own report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PATHS = ["tools", "infra", "tests", "bench", "policies"]


def mypy_cache() -> list[str]:
    """mypy's cache in the machine's mapperdb cache, not the checkout's .mypy_cache: mypy checks
    each entry against its source's hash, so another checkout (a clean clone in CI) reuses it
    instead of checking every module again (about 15 s of CPU)."""
    from mapperdb import cachedir

    folder = cachedir.cache_dir("mypy")
    return ["--cache-dir", str(folder)] if folder is not None else []


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PATHS],
        ["ruff", "format", "--check", *PATHS],
        ["mypy", *mypy_cache()],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_static_checks_are_clean(command: list[str]) -> None:
    tool = Path(sys.executable).parent / command[0]
    assert tool.exists(), f"{command[0]} missing from the venv; run ./bin/setup"
    result = subprocess.run(
        [str(tool), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
