"""What the SQL gate benchmarks share: paths, timing, squawk's install, the docs section."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
PYTHON = ROOT / ".venv" / "bin" / "python"
MAPPERDB = ROOT / ".venv" / "bin" / "mapperdb"
SQLFLUFF = ROOT / ".venv" / "bin" / "sqlfluff"
# squawk lives in its own throwaway venv: it is a benchmark opponent, not a project dependency.
SQUAWK_VERSION = "2.70.0"
SQUAWK_VENV = ROOT / ".tools" / "squawk"
SQUAWK = SQUAWK_VENV / "bin" / "squawk"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## SQL gate"


def ensure_squawk() -> Path:
    """Installs squawk-cli from PyPI into .tools/squawk on first use."""
    if SQUAWK.exists():
        return SQUAWK
    if subprocess.run(["uv", "--version"], capture_output=True, check=False).returncode != 0:
        sys.exit("bench: uv is needed to install squawk-cli; run ./bin/setup first")
    subprocess.run(["uv", "venv", "-q", str(SQUAWK_VENV)], check=True)
    subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "-q",
            "--python",
            str(SQUAWK_VENV / "bin" / "python"),
            f"squawk-cli=={SQUAWK_VERSION}",
        ],
        check=True,
    )
    return SQUAWK


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, env=env)


def timed(cmd: list[str], cwd: Path, runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Best wall time of ``runs`` runs (as timeit does: on a shared machine the minimum is the
    least disturbed measurement), and the last run's result."""
    times = []
    done = run(cmd, cwd)  # warm the page cache so the first tool measured is not penalised
    for _ in range(runs):
        start = time.perf_counter()
        done = run(cmd, cwd)
        times.append(time.perf_counter() - start)
    return min(times), done


def update_doc(marker: str, body: str) -> None:
    """Replaces this benchmark's block in docs/benchmarks.md, creating the section if needed."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = DOC.read_text("utf-8") if DOC.exists() else "# Benchmarks\n"
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    elif HEADING in text:
        head, rest = text.split(HEADING, 1)
        nxt = rest.find("\n## ")
        section = rest if nxt < 0 else rest[:nxt]
        tail = "" if nxt < 0 else rest[nxt:]
        text = f"{head}{HEADING}{section.rstrip()}\n\n{block}\n{tail}"
    else:
        text = f"{text.rstrip()}\n\n{HEADING}\n\n{block}\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, "utf-8")
