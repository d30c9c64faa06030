"""Migration files: names, header directives, checksums and statements.

A migration is a pair ``NNNN_slug.up.sql`` / ``NNNN_slug.down.sql``. Header directives live in
the leading comment block::

    -- mapperdb:no-transaction          (first line only) run statement by statement, autocommit
    -- mapperdb:lock-timeout 10s         lock_timeout for this file (default 5s)
    -- mapperdb:statement-timeout 1h     statement_timeout for this file (default 15min)
    -- mapperdb:lock-retries 10          retries after a lock timeout (default 5)

``-- mapperdb:allow RULE reason: ...`` lines belong to the SQL gate and are ignored here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pglast import ast, parse_sql, split
from pglast.parser import ParseError

from mapperdb.errors import ConfigError

FILE_RE = re.compile(
    r"^(?P<version>\d{4})_(?P<slug>[a-z0-9]+(?:_[a-z0-9]+)*)\.(?P<direction>up|down)\.sql$"
)
DIRECTIVE_RE = re.compile(r"^--\s*mapperdb:(?P<name>[a-z-]+)(?:\s+(?P<value>.*?))?\s*$")
DURATION_RE = re.compile(r"^\d+\s*(ms|s|min|h|d)?$")
NO_TRANSACTION = "no-transaction"
GATE_DIRECTIVES = frozenset({"allow"})


def normalize(text: str) -> str:
    """CRLF/CR to LF, trailing whitespace off every line and off the end of the file."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).rstrip("\n")


def checksum(text: str) -> str:
    """sha256 of the normalized text: line-ending or whitespace churn is never drift."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


@dataclass(frozen=True)
class Directives:
    transaction: bool = True
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    lock_retries: int | None = None

    @property
    def mode(self) -> str:
        return "transaction" if self.transaction else NO_TRANSACTION


@dataclass(frozen=True)
class Statement:
    index: int  # 1-based position in the file
    line: int
    sql: str
    concurrent_index: tuple[str | None, str] | None  # (schema, name) of CREATE INDEX CONCURRENTLY


@dataclass(frozen=True)
class Script:
    path: Path
    text: str
    directives: Directives

    @cached_property
    def checksum(self) -> str:
        return checksum(self.text)

    @cached_property
    def statements(self) -> tuple[Statement, ...]:
        """Statements as PostgreSQL's own parser splits them; a syntax error names its line."""
        try:
            slices = list(split(self.text, with_parser=True, only_slices=True))
            parsed = parse_sql(self.text)
        except ParseError as exc:
            index = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
            raise MigrationSyntaxError(
                f"{self.path}:{line_of(self.text, index)}: {exc.args[0]}"
            ) from None
        result = []
        for number, (piece, raw) in enumerate(zip(slices, parsed, strict=True), start=1):
            stmt = raw.stmt
            concurrent = None
            if isinstance(stmt, ast.IndexStmt) and stmt.concurrent and stmt.idxname:
                schema = stmt.relation.schemaname if stmt.relation else None
                concurrent = (schema, stmt.idxname)
            result.append(
                Statement(number, line_of(self.text, piece.start), self.text[piece], concurrent)
            )
        return tuple(result)


class MigrationSyntaxError(ConfigError):
    """A file PostgreSQL's parser rejects; reported with file:line, before anything runs."""

    exit_code = 1


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: Script
    down: Script

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def parse_directives(path: Path, text: str) -> Directives:
    values: dict[str, object] = {}
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break  # the header ends at the first statement
        match = DIRECTIVE_RE.match(line)
        if not match:
            continue
        name, value = match["name"], (match["value"] or "").strip()
        where = f"{path}:{number}"
        if name in GATE_DIRECTIVES:
            continue
        if name == NO_TRANSACTION:
            if number != 1:
                raise ConfigError(f"{where}: '-- mapperdb:no-transaction' must be the first line")
            values["transaction"] = False
        elif name in ("lock-timeout", "statement-timeout"):
            if not DURATION_RE.match(value):
                raise ConfigError(
                    f"{where}: {name} needs a PostgreSQL duration like 500ms, 5s, 15min or 1h"
                )
            values[name.replace("-", "_")] = value
        elif name == "lock-retries":
            if not value.isdigit():
                raise ConfigError(f"{where}: lock-retries needs a whole number, got {value!r}")
            values["lock_retries"] = int(value)
        else:
            raise ConfigError(
                f"{where}: unknown directive 'mapperdb:{name}'; known: no-transaction, "
                "lock-timeout, statement-timeout, lock-retries, allow"
            )
    return Directives(**values)  # type: ignore[arg-type]


def load_script(path: Path) -> Script:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return Script(path=path, text=text, directives=parse_directives(path, text))


def load_migrations(directory: Path) -> list[Migration]:
    """Every migration in ``directory``, ordered by version; naming problems name the file."""
    if not directory.is_dir():
        raise ConfigError(f"migrations directory {directory} does not exist; pass --dir")
    pairs: dict[int, dict[str, Path]] = {}
    slugs: dict[int, str] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILE_RE.match(path.name)
        if not match:
            raise ConfigError(
                f"{path}: malformed migration file name; expected NNNN_slug.up.sql or "
                "NNNN_slug.down.sql (4-digit version, lowercase slug with underscores)"
            )
        version, slug, kind = int(match["version"]), match["slug"], match["direction"]
        if version == 0:
            raise ConfigError(f"{path}: version 0000 is reserved for 'nothing applied'")
        if slugs.setdefault(version, slug) != slug:
            other = f"{version:04d}_{slugs[version]}.{kind}.sql"
            raise ConfigError(f"{path}: duplicate version {version:04d} (also {other})")
        if kind in pairs.setdefault(version, {}):
            raise ConfigError(f"{path}: duplicate version {version:04d}")
        pairs[version][kind] = path
    migrations = []
    for version in sorted(pairs):
        files = pairs[version]
        for kind, other in (("down", "up"), ("up", "down")):
            if kind not in files:
                raise ConfigError(
                    f"{files[other]}: missing its {kind} file "
                    f"{version:04d}_{slugs[version]}.{kind}.sql"
                )
        migrations.append(
            Migration(version, slugs[version], load_script(files["up"]), load_script(files["down"]))
        )
    return migrations
