"""The style stage: sqlfluff's Python API, in process, with the repository's ``.sqlfluff``.

sqlfluff's PostgreSQL grammar has gaps on SQL that PostgreSQL accepts. A statement sqlfluff cannot
parse gets one STY001 warning that names it (style not checked there), never a crash or a silent
skip; and the 20 kB large-file skip is turned off so no file goes unchecked.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from mapperdb.findings import Severity
from mapperdb.lint.engine import Hit
from mapperdb.lint.source import ParsedFile

UNPARSED = "STY001"
PREFIX = "SQLFLUFF-"
# sqlfluff's codes for "could not parse" and "could not template", as opposed to style rules.
PARSE_CODES = frozenset({"PRS", "TMP"})


def _import_sqlfluff() -> Any:
    """sqlfluff.core, imported without pytest.

    sqlfluff imports pytest whenever it is installed (dev environments) only to register assertion
    rewriting for its own test helpers; that costs the gate about 0.4 s a run. Hiding pytest for
    that one import leaves it importable afterwards, and changes nothing when pytest is running.
    """
    hide = "pytest" not in sys.modules
    if hide:
        sys.modules["pytest"] = None  # type: ignore[assignment]  # makes `import pytest` fail
    try:
        return importlib.import_module("sqlfluff.core")
    finally:
        if hide:
            del sys.modules["pytest"]


@cache
def _linter(config_dir: Path) -> Any:
    core = _import_sqlfluff()
    FluffConfig, Linter = core.FluffConfig, core.Linter  # noqa: N806 - sqlfluff's class names

    config = FluffConfig.from_path(
        str(config_dir),
        overrides={"dialect": "postgres", "large_file_skip_byte_limit": 0},
    )
    return Linter(config=config)


# (code, line, column, description) of one sqlfluff violation, or CRASHED and the error text.
Violation = tuple[str, int, int, str]
CRASHED = "!"
# Below this many files the pool's start-up costs more than it saves.
PARALLEL_MIN_FILES = 16


def _violations(job: tuple[Path, str, str]) -> list[Violation]:
    config_dir, name, text = job
    try:
        linted = _linter(config_dir).lint_string(text, fname=name)
    except Exception as exc:  # a sqlfluff crash must cost one file's style, not the gate
        return [(CRASHED, 1, 1, f"{type(exc).__name__}: {exc}")]
    return [
        (v.rule_code(), int(v.line_no or 1), int(v.line_pos or 1), v.desc())
        for v in linted.get_violations()
    ]


def _run(jobs: list[tuple[Path, str, str]]) -> list[list[Violation]]:
    """Lints every file, across the machine's cores when there are enough files.

    sqlfluff is single-threaded pure Python and takes nearly all of a full run. The linters are
    built before the pool forks, so workers start with sqlfluff imported and configured. A caller
    with threads of its own (a progress spinner) gets spawned workers instead: forking a
    multi-threaded process can copy a lock some other thread holds.
    """
    for config_dir in {job[0] for job in jobs}:
        _linter(config_dir)
    workers = min(os.cpu_count() or 1, len(jobs) // (PARALLEL_MIN_FILES // 2))
    if len(jobs) < PARALLEL_MIN_FILES or workers < 2:
        return [_violations(job) for job in jobs]
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_violations, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def style_hits(files: list[ParsedFile]) -> list[Hit]:
    jobs = [(pf.file.path.parent, str(pf.file.path), pf.file.text) for pf in files]
    hits: list[Hit] = []
    for pf, violations in zip(files, _run(jobs), strict=True):
        hits.extend(_hits(pf, violations))
    return hits


def _hits(pf: ParsedFile, violations: list[Violation]) -> list[Hit]:
    hits: list[Hit] = []
    unparsed: set[int] = set()
    for code, line, column, description in violations:
        position = (line, column)
        if code == CRASHED:
            message = f"sqlfluff failed on this file, style not checked: {description}"
            hits.append(Hit(pf.file.display, 0, UNPARSED, Severity.WARNING, message, position))
        elif code not in PARSE_CODES:
            hits.append(
                Hit(pf.file.display, 0, PREFIX + code, Severity.ERROR, description, position)
            )
        else:
            statement = pf.statement_at(pf.lines.offset(*position))
            if statement is None and pf.syntax_errors:
                continue  # PostgreSQL cannot parse it either: SYN001 already says so
            key = statement.start if statement else -1
            if key in unparsed:
                continue
            unparsed.add(key)
            what = f"`{pf.snippet(statement)}`" if statement else "this part of the file"
            message = f"sqlfluff cannot parse {what}; its style is not checked"
            hits.append(Hit(pf.file.display, 0, UNPARSED, Severity.WARNING, message, position))
    return hits
