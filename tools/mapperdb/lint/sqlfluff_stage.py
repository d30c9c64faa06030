"""The style stage: sqlfluff's Python API, in process, with the repository's ``.sqlfluff``.

The settings are the repository root's ``.sqlfluff`` and any nested ones between the root and the
linted file (nearer wins), wherever the command runs from: sqlfluff's own lookup starts at the
working directory, so linting ``sql/migrations`` from ``sql/`` would miss the root's settings.

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
from mapperdb.migrate.files import MigrationFile

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


def config_dirs(root: Path, config_dir: Path) -> list[Path]:
    """The directories whose ``.sqlfluff`` apply to files in ``config_dir``, outermost first."""
    if not config_dir.is_relative_to(root):
        return [root, config_dir]
    dirs = [root]
    for part in config_dir.relative_to(root).parts:
        dirs.append(dirs[-1] / part)
    return dirs


@cache
def _linter(root: Path, config_dir: Path) -> Any:
    core = _import_sqlfluff()
    from sqlfluff.core.config.loader import load_config_at_path
    from sqlfluff.core.helpers.dict import nested_combine

    configs = nested_combine(*(load_config_at_path(str(d)) for d in config_dirs(root, config_dir)))
    config = core.FluffConfig(
        configs=configs,
        overrides={"dialect": "postgres", "large_file_skip_byte_limit": 0},
    )
    return core.Linter(config=config)


# (code, line, column, description) of one sqlfluff violation, or CRASHED and the error text.
Violation = tuple[str, int, int, str]
CRASHED = "!"
# Below this many files the pool's start-up costs more than it saves.
PARALLEL_MIN_FILES = 16
# (repository root, the file's directory, file name, text): one file for sqlfluff.
Job = tuple[Path, Path, str, str]


def _violations(job: Job) -> list[Violation]:
    root, config_dir, name, text = job
    try:
        linted = _linter(root, config_dir).lint_string(text, fname=name)
    except Exception as exc:  # a sqlfluff crash must cost one file's style, not the gate
        return [(CRASHED, 1, 1, f"{type(exc).__name__}: {exc}")]
    return [
        (v.rule_code(), int(v.line_no or 1), int(v.line_pos or 1), v.desc())
        for v in linted.get_violations()
    ]


def _run(jobs: list[Job]) -> list[list[Violation]]:
    """Lints every file, across the machine's cores when there are enough files.

    sqlfluff is single-threaded pure Python and takes nearly all of a full run. The linters are
    built before the pool forks, so workers start with sqlfluff imported and configured. A caller
    with threads of its own (a progress spinner) gets spawned workers instead: forking a
    multi-threaded process can copy a lock some other thread holds.
    """
    for root, config_dir in {job[:2] for job in jobs}:
        _linter(root, config_dir)
    workers = min(os.cpu_count() or 1, len(jobs) // (PARALLEL_MIN_FILES // 2))
    if len(jobs) < PARALLEL_MIN_FILES or workers < 2:
        return [_violations(job) for job in jobs]
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_violations, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def style_hits(files: list[MigrationFile], root: Path) -> list[Hit]:
    jobs = [(root, pf.path.parent, str(pf.path), pf.text) for pf in files]
    hits: list[Hit] = []
    for pf, violations in zip(files, _run(jobs), strict=True):
        hits.extend(_hits(pf, violations))
    return hits


def _hits(pf: MigrationFile, violations: list[Violation]) -> list[Hit]:
    hits: list[Hit] = []
    unparsed: set[int] = set()
    for code, line, column, description in violations:
        position = (line, column)
        if code == CRASHED:
            message = f"sqlfluff failed on this file, style not checked: {description}"
            hits.append(Hit(pf.display, 0, UNPARSED, Severity.WARNING, message, position))
        elif code not in PARSE_CODES:
            hits.append(Hit(pf.display, 0, PREFIX + code, Severity.ERROR, description, position))
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
            hits.append(Hit(pf.display, 0, UNPARSED, Severity.WARNING, message, position))
    return hits
