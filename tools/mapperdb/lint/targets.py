"""What ``mapperdb lint PATH ...`` lints: migration sets, and the files of each under review.

A directory lints every migration file in it; a file lints itself, with the migration set it
belongs to as schema context. Files are migrations when the naming pattern says so (see
``mapperdb.migrate.files.Pattern``): a path with none is an error that names the pattern, never
"0 files checked". A ``.sql`` file beside the migrations that the pattern does not name is linted
without a version (after every migration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mapperdb.errors import ConfigError
from mapperdb.lint.config import SECTION
from mapperdb.migrate.files import MigrationFile, Pattern, display_path, read_file


@dataclass
class LintSet:
    """One migrations directory: every file of it (context) and the paths to report on."""

    root: Path
    pattern: Pattern
    targets: set[Path] = field(default_factory=set)

    def files(self) -> list[MigrationFile]:
        """Every migration of the set plus targeted strays, in the order the runner applies ups."""
        pattern = self.pattern
        named = [read_file(p, pattern, self.root) for p in pattern.candidates(self.root)]
        files = [f for f in named if f.name is not None or f.path in self.targets]
        known = {f.path for f in files}
        files += [read_file(t, pattern, self.root) for t in sorted(self.targets - known)]
        return sorted(files, key=lambda f: (f.version or 0, f.direction != "up", f.path.as_posix()))

    def is_migration(self, path: Path) -> bool:
        if self.root not in path.parents:
            return False
        return self.pattern.name(self.pattern.relative(path, self.root)) is not None


def _none_found(path: Path, pattern: Pattern) -> ConfigError:
    return ConfigError(
        f"{display_path(path)}: no migration files named like {pattern.template}; set `pattern` "
        f"under {SECTION} in pyproject.toml to how this project names them"
    )


def _directory(path: Path, pattern: Pattern) -> tuple[Path, list[Path]]:
    """(set root, files under ``path``): ``path`` is the set itself, or a folder inside one."""
    for up in range(pattern.depth):
        root = path if up == 0 else path.parents[up - 1]
        files = [f for f in pattern.candidates(root) if f.is_relative_to(path)]
        if any(pattern.name(pattern.relative(f, root)) for f in files):
            return root, files
    raise _none_found(path, pattern)


def resolve(paths: list[Path], pattern: Pattern) -> list[LintSet]:
    """The migration sets the command line's paths belong to, each with its targets."""
    sets: dict[Path, LintSet] = {}
    for path in (p.resolve() for p in paths):
        if path.is_dir():
            root, files = _directory(path, pattern)
        elif path.is_file():
            if path.suffix != ".sql":
                raise ConfigError(f"{display_path(path)} is not a .sql file")
            if len(path.parents) < pattern.depth:
                raise _none_found(path, pattern)
            root, files = pattern.root_of(path), [path]
            if pattern.name(pattern.relative(path, root)) is None:
                raise _none_found(path, pattern)
        else:
            raise ConfigError(f"no such file or directory: {display_path(path)}")
        sets.setdefault(root, LintSet(root, pattern)).targets.update(files)
    return list(sets.values())
