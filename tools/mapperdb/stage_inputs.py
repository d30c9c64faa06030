"""What each gate stage reads, as data: the one place ``mapperdb check --changed-since`` and the
synth cache ask.

A changed file belongs to the first group whose patterns match it (specific groups come first),
and every stage of that group runs. A file no group names (docs, tests, workflows) runs
nothing: the gate does not read it. Patterns are repository-relative POSIX paths; ``dir/**`` is
everything below ``dir``, other patterns are :mod:`fnmatch` globs.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

STAGES = ("lint", "migrations", "synth", "policy")

# The platform facts (extension allow-list, SKU table, parameter formulas) shape the ephemeral
# server the migrations run on and the stacks synth writes; nothing else of the tool does both.
PLATFORM_DATA = ("tools/mapperdb/platform/**", "tools/mapperdb/data/**")
LOCK_FILES = ("uv.lock", "package-lock.json")


@dataclass(frozen=True)
class InputGroup:
    name: str  # what these files are, as a reason names them
    patterns: tuple[str, ...]
    stages: tuple[str, ...]


INPUTS: tuple[InputGroup, ...] = (
    InputGroup("shared platform data", PLATFORM_DATA, ("migrations", "synth", "policy")),
    InputGroup("migrations", ("sql/**",), ("lint", "migrations")),
    InputGroup("SQL style configuration", (".sqlfluff",), ("lint",)),
    InputGroup("infrastructure code and environment files", ("infra/**",), ("synth", "policy")),
    # docs/infra.md explains the accepted checkov failures the policy stage reads.
    InputGroup("policies", ("policies/**", "docs/infra.md"), ("synth", "policy")),
    InputGroup(
        "the tool, its dependencies and their locks",
        (
            "tools/**",
            "bin/**",
            "pyproject.toml",
            *LOCK_FILES,
            "package.json",
            "cdktf.json",
        ),
        STAGES,
    ),
)

# What a synthesized stack is a function of, besides tool versions (see mapperdb.infra.synth):
# the infra code and environment files, the platform data the infra imports (the layering test
# keeps infra's imports of mapperdb to these), the synth driver itself, cdktf.json and the locks.
SYNTH_INPUTS = (
    "infra/**",
    *PLATFORM_DATA,
    "tools/mapperdb/__init__.py",
    "tools/mapperdb/errors.py",
    "tools/mapperdb/infra/synth.py",
    "cdktf.json",
    *LOCK_FILES,
)


def matches(path: str, pattern: str) -> bool:
    if pattern.endswith("/**"):
        return path.startswith(pattern[:-2])
    return fnmatch.fnmatchcase(path, pattern)


def group_of(path: str) -> InputGroup | None:
    """The group a repository-relative path belongs to; None when no stage reads it."""
    return next((g for g in INPUTS if any(matches(path, p) for p in g.patterns)), None)


def triggers(changed: Iterable[str]) -> dict[str, list[str]]:
    """stage -> the changed paths that make it run (stages with none are absent)."""
    found: dict[str, list[str]] = {}
    for path in sorted(changed):
        group = group_of(path)
        for stage in group.stages if group else ():
            found.setdefault(stage, []).append(path)
    return found


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def files_matching(repo: Path, patterns: Iterable[str]) -> list[Path]:
    """Every file under ``repo`` a pattern names, sorted (compiled Python left out)."""
    found: set[Path] = set()
    for pattern in patterns:
        if pattern.endswith("/**"):
            base = repo / pattern[:-3]
            found.update(_walk(base) if base.is_dir() else ())
        else:
            found.update(p for p in repo.glob(pattern) if p.is_file())
    return sorted(found)


def digest(repo: Path, patterns: Iterable[str], extra: Iterable[str] = ()) -> str:
    """sha256 over the names and contents of the files ``patterns`` name, and ``extra`` strings."""
    h = hashlib.sha256()
    for path in files_matching(repo, patterns):
        h.update(path.relative_to(repo).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for item in extra:
        h.update(item.encode() + b"\0")
    return h.hexdigest()
