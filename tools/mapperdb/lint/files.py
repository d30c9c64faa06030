"""Finding migration files and reading what their comments tell the gate.

The conventions are shared with the migration runner: ``NNNN_slug.up.sql`` / ``NNNN_slug.down.sql``,
a first line ``-- mapperdb:no-transaction`` for files that run statement by statement, and
``-- mapperdb:allow RULE-ID reason: <text>`` suppressions on or above a statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mapperdb.errors import ConfigError
from mapperdb.migrate.files import FILE_RE

DEFAULT_DIR = Path("sql/migrations")
# The runner's naming, so both agree on what a migration is.
NAME = FILE_RE
NO_TRANSACTION = re.compile(r"^--\s*mapperdb:no-transaction\s*$")
ALLOW = re.compile(
    r"mapperdb:allow\s+(?P<rule>[A-Za-z][A-Za-z0-9._-]*)(?:\s+reason:\s*(?P<reason>.*?))?\s*(?:\*/)?$"
)


@dataclass(frozen=True)
class MigrationFile:
    """One SQL file of a migration set. ``version`` is None for a file outside the naming scheme."""

    path: Path
    display: str  # the path as reported in findings (relative to the working directory if possible)
    version: int | None
    slug: str
    direction: str  # "up" or "down"
    text: str

    @property
    def no_transaction(self) -> bool:
        first = self.text.split("\n", 1)[0].strip()
        return bool(NO_TRANSACTION.match(first))

    @property
    def is_up(self) -> bool:
        return self.direction == "up"


@dataclass(frozen=True)
class Allow:
    """A suppression comment: ``rule`` is allowed for the statement it sits on or above."""

    rule: str
    reason: str
    line: int
    column: int


def display_path(path: Path) -> str:
    # getcwd() is already the physical path, and callers pass resolved paths: no syscalls here.
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def read(path: Path) -> MigrationFile:
    match = NAME.match(path.name)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {display_path(path)}: {exc}") from exc
    if match is None:
        return MigrationFile(path, display_path(path), None, path.stem, "up", text)
    return MigrationFile(
        path,
        display_path(path),
        int(match["version"]),
        match["slug"],
        match["direction"],
        text,
    )


def migration_set(directory: Path) -> list[MigrationFile]:
    """Every migration file of a directory, in the order the runner applies the ups."""
    files = [read(p) for p in sorted(directory.glob("*.sql")) if NAME.match(p.name)]
    return sorted(files, key=lambda f: (f.version or 0, f.direction != "up", f.path.name))


def resolve_targets(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Split the command line's paths into (migration directories, target files).

    A directory lints all its migrations; a file lints itself, with its directory as the set
    that gives it schema context.
    """
    directories: list[Path] = []
    targets: list[Path] = []
    for path in (p.resolve() for p in paths):
        if path.is_dir():
            directories.append(path)
            targets.extend(sorted(path.glob("*.sql")))
        elif path.is_file():
            if path.suffix != ".sql":
                raise ConfigError(f"{display_path(path)} is not a .sql file")
            directories.append(path.parent)
            targets.append(path)
        else:
            raise ConfigError(f"no such file or directory: {display_path(path)}")
    return list(dict.fromkeys(directories)), list(dict.fromkeys(targets))
