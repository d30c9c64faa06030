"""The style stage: sqlfluff's Python API, in process, with the repository's ``.sqlfluff``.

The settings are the repository root's ``.sqlfluff`` and any nested ones between the root and the
linted file (nearer wins), wherever the command runs from: sqlfluff's own lookup starts at the
working directory, so linting ``sql/migrations`` from ``sql/`` would miss the root's settings.

sqlfluff's PostgreSQL grammar has gaps on SQL that PostgreSQL accepts. A statement sqlfluff cannot
parse gets one STY001 warning that names it (style not checked there), never a crash or a silent
skip; and the 20 kB large-file skip is turned off so no file goes unchecked.

sqlfluff takes nearly all of a lint's time, so its verdict on each file is cached
(``~/.cache/mapperdb/lint``, see :mod:`mapperdb.cachedir`; ``MAPPERDB_LINT_CACHE=off`` turns it
off), keyed by a hash of the file's text, every settings file sqlfluff reads for it, and the
versions of sqlfluff, Python and this cache's format: an unchanged file is not parsed again, and
a run where every file hits does not even import sqlfluff. A crash is never cached.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from mapperdb import cachedir
from mapperdb.findings import Severity
from mapperdb.lint.engine import Hit
from mapperdb.migrate.files import MigrationFile

UNPARSED = "STY001"
PREFIX = "SQLFLUFF-"
# sqlfluff's codes for "could not parse" and "could not template", as opposed to style rules.
PARSE_CODES = frozenset({"PRS", "TMP"})
# The raw templater whatever the settings say: PostgreSQL runs a migration as written, so that is
# what is linted (a Jinja tag in a migration fails when it is applied); it also makes a file's
# verdict a function of its text and settings alone, which the cache relies on.
OVERRIDES = {"dialect": "postgres", "large_file_skip_byte_limit": 0, "templater": "raw"}
# The files sqlfluff reads settings from in each directory from the root to the linted file's
# (its load_config_at_path; tests/lint/test_cache.py pins this list to sqlfluff's).
SETTINGS_FILES = ("setup.cfg", "tox.ini", "pep8.ini", ".sqlfluff", "pyproject.toml")
CACHE_FORMAT = "1"  # bump when what an entry holds changes


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
def _linter(root: Path, config_dir: Path, settings: str) -> Any:
    """One linter per settings (``settings`` is their digest: a changed file makes a new one)."""
    core = _import_sqlfluff()
    from sqlfluff.core.config.file import load_config_file_as_dict
    from sqlfluff.core.config.loader import load_config_at_path
    from sqlfluff.core.helpers.dict import nested_combine

    # sqlfluff caches what it read by path for the life of the process: these settings are new
    # (their digest is), so read the files again.
    load_config_at_path.cache_clear()
    load_config_file_as_dict.cache_clear()

    configs = nested_combine(*(load_config_at_path(str(d)) for d in config_dirs(root, config_dir)))
    config = core.FluffConfig(
        configs=configs,
        overrides=OVERRIDES,
    )
    return core.Linter(config=config)


# (code, line, column, description) of one sqlfluff violation, or CRASHED and the error text.
Violation = tuple[str, int, int, str]
CRASHED = "!"
# Below this many files the pool's start-up costs more than it saves.
PARALLEL_MIN_FILES = 16
# (repository root, the file's directory, digest of its settings, file name, text): one file.
Job = tuple[Path, Path, str, str, str]


def _violations(job: Job) -> list[Violation]:
    root, config_dir, settings, name, text = job
    try:
        linted = _linter(root, config_dir, settings).lint_string(text, fname=name)
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
    for root, config_dir, settings in {job[:3] for job in jobs}:
        _linter(root, config_dir, settings)
    workers = min(os.cpu_count() or 1, len(jobs) // (PARALLEL_MIN_FILES // 2))
    if len(jobs) < PARALLEL_MIN_FILES or workers < 2:
        return [_violations(job) for job in jobs]
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_violations, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def _settings_digest(root: Path, config_dir: Path) -> str:
    """What sqlfluff's settings for files in ``config_dir`` are made of, and its version."""
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, sys.version, repr(sorted(OVERRIDES.items())), *_plugins()):
        digest.update(part.encode() + b"\0")
    for folder in config_dirs(root, config_dir):
        for name in SETTINGS_FILES:
            try:
                content = b"=" + (folder / name).read_bytes()
            except OSError:
                content = b"-"  # absent (or unreadable, which sqlfluff would skip too)
            # Where each file sits relative to the root, not the root itself: a copy of the
            # repository (another checkout, a CI workspace) hits the same entries.
            where = folder.relative_to(root) if folder.is_relative_to(root) else folder
            digest.update(f"{where / name}".encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


@cache
def _plugins() -> tuple[str, ...]:
    """sqlfluff and every plugin it loads (rules, dialects), with their versions."""
    found = {
        f"{entry.name}={entry.value}@{entry.dist.version if entry.dist else '?'}"
        for entry in metadata.entry_points(group="sqlfluff")
    }
    return (f"sqlfluff {metadata.version('sqlfluff')}", *sorted(found))


def _entry(folder: Path, settings: str, text: str) -> Path:
    key = hashlib.sha256(f"{settings}\0{text}".encode()).hexdigest()
    return folder / key[:2] / f"{key}.json"


def _cached(path: Path) -> list[Violation] | None:
    try:
        entries = json.loads(path.read_bytes())
        return [(str(c), int(line), int(col), str(d)) for c, line, col, d in entries]
    except (OSError, ValueError, TypeError):
        return None  # absent, half-written by an older version, or not ours: lint the file


def _run_cached(jobs: list[Job]) -> list[list[Violation]]:
    folder = cachedir.cache_dir("lint")
    if folder is None:
        return _run(jobs)
    entries = [_entry(folder, job[2], job[4]) for job in jobs]
    results = [_cached(entry) for entry in entries]
    missing = [i for i, found in enumerate(results) if found is None]
    if missing:
        for i, violations in zip(missing, _run([jobs[i] for i in missing]), strict=True):
            results[i] = violations
            if not any(code == CRASHED for code, *_ in violations):
                cachedir.write_atomically(entries[i], json.dumps(violations).encode())
    return [found if found is not None else [] for found in results]


def style_hits(files: list[MigrationFile], root: Path) -> list[Hit]:
    digests: dict[Path, str] = {}
    for folder in {pf.path.parent for pf in files}:
        digests[folder] = _settings_digest(root, folder)
    jobs = [(root, pf.path.parent, digests[pf.path.parent], str(pf.path), pf.text) for pf in files]
    hits: list[Hit] = []
    for pf, violations in zip(files, _run_cached(jobs), strict=True):
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
