"""Migration files: the one reader of the format, for the runner and the SQL gate alike.

A file's name says its version, slug and direction, by a pattern (:class:`Pattern`); the default
is ``NNNN_slug.up.sql`` / ``NNNN_slug.down.sql``. Header directives live in the leading comment
block::

    -- mapperdb:no-transaction          (first line only) run statement by statement, autocommit
    -- mapperdb:lock-timeout 10s         lock_timeout for this file (default 5s)
    -- mapperdb:statement-timeout 1h     statement_timeout for this file (default 15min)
    -- mapperdb:lock-retries 10          retries after a lock timeout (default 5)
    -- mapperdb:role mapper_owner        run every statement as this role (the history is still
                                         written as the login); the way a no-transaction file
                                         acts as the objects' owner

``-- mapperdb:allow RULE reason: ...`` comments, anywhere, suppress a gate finding on the
statement they trail or sit above. The checksum is sha256 of the text with line endings and
trailing whitespace normalised. Statements come from PostgreSQL's own parser (pglast) with their
offsets; a file that does not parse as a whole is cut at the scanner's top-level semicolons and
each piece parsed on its own, so one syntax error is one problem at its line and the rest of the
file still has statements.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pglast import parse_sql
from pglast.parser import ParseError, scan

from mapperdb.errors import ConfigError

Direction = Literal["up", "down"]

# -- names ------------------------------------------------------------------------------------

DEFAULT_PATTERN = "{version:4}_{slug}.{direction}.sql"
SLUG = r"[a-z0-9]+(?:_[a-z0-9]+)*"
PLACEHOLDER = re.compile(r"\{(?P<name>[a-z]+)(?::(?P<width>\d+))?\}")


@dataclass(frozen=True)
class Name:
    version: int
    slug: str
    direction: Direction


@dataclass(frozen=True)
class Pattern:
    """How migration files are named, as a template relative to the migrations directory.

    ``{version}`` is digits (``{version:4}`` exactly four), ``{slug}`` lowercase words joined by
    underscores, ``{direction}`` ``up`` or ``down``; ``/`` makes a folder per migration. Without
    ``{direction}`` every file is an up migration. Examples: ``{version:4}_{slug}.{direction}.sql``
    (the default), ``{version:14}_{slug}.sql`` (timestamps), ``{version:4}_{slug}/{direction}.sql``.
    """

    template: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, template: str) -> Pattern:
        problem = None
        parts, seen, last = [], [], 0
        for match in PLACEHOLDER.finditer(template):
            parts.append(re.escape(template[last : match.start()]))
            name, width = match["name"], match["width"]
            seen.append(name)
            if name == "version":
                parts.append(rf"(?P<version>\d{{{width}}})" if width else r"(?P<version>\d+)")
            elif name == "slug" and not width:
                parts.append(rf"(?P<slug>{SLUG})")
            elif name == "direction" and not width:
                parts.append(r"(?P<direction>up|down)")
            else:
                problem = f"unknown placeholder {match[0]}"
            last = match.end()
        parts.append(re.escape(template[last:]))
        if problem is None and sorted(seen) not in (
            ["slug", "version"],
            ["direction", "slug", "version"],
        ):
            problem = "needs {version} and {slug} once each, and {direction} at most once"
        if problem is None and not template.endswith(".sql"):
            problem = "must end with .sql"
        if problem is None and (template.startswith("/") or ".." in template.split("/")):
            problem = "must be relative to the migrations directory"
        if problem is not None:
            raise ConfigError(
                f"migration file pattern {template!r}: {problem}; "
                f"for example {DEFAULT_PATTERN!r} or '{{version:14}}_{{slug}}.sql'"
            )
        return cls(template, re.compile("".join(parts)))

    @property
    def depth(self) -> int:
        """How many path components a file has below the migrations directory."""
        return self.template.count("/") + 1

    @property
    def has_downs(self) -> bool:
        return "{direction}" in self.template

    def name(self, relative: str) -> Name | None:
        match = self.regex.fullmatch(relative)
        if match is None:
            return None
        direction: Direction = "down" if match.groupdict().get("direction") == "down" else "up"
        return Name(int(match["version"]), match["slug"], direction)

    def candidates(self, directory: Path) -> list[Path]:
        """Every ``.sql`` file at the pattern's depth below ``directory``, matching or not."""
        return sorted(directory.glob("*/" * (self.depth - 1) + "*.sql"))

    def root_of(self, path: Path) -> Path:
        """The migrations directory a file of this pattern sits in."""
        return path.parents[self.depth - 1]

    def relative(self, path: Path, root: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.name


DEFAULT = Pattern.parse(DEFAULT_PATTERN)

# -- checksum ---------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """CRLF/CR to LF, trailing whitespace off every line and off the end of the file."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).rstrip("\n")


def checksum(text: str) -> str:
    """sha256 of the normalized text: line-ending or whitespace churn is never drift."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


# -- directives -------------------------------------------------------------------------------

DIRECTIVE_RE = re.compile(r"^--\s*mapperdb:(?P<name>[a-z-]+)(?:\s+(?P<value>.*?))?\s*$")
DURATION_RE = re.compile(r"^\d+\s*(ms|s|min|h|d)?$")
ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
NO_TRANSACTION = "no-transaction"
ALLOW_DIRECTIVE = "allow"
ALLOW = re.compile(
    r"mapperdb:allow\s+(?P<rule>[A-Za-z][A-Za-z0-9._-]*)(?:\s+reason:\s*(?P<reason>.*?))?\s*(?:\*/)?$"
)


@dataclass(frozen=True)
class Directives:
    transaction: bool = True
    lock_timeout: str | None = None
    statement_timeout: str | None = None
    lock_retries: int | None = None
    role: str | None = None

    @property
    def mode(self) -> str:
        return "transaction" if self.transaction else NO_TRANSACTION


@dataclass(frozen=True)
class Problem:
    """Something wrong in a file: a syntax error or a bad directive, at an offset."""

    offset: int
    message: str


def _directive(name: str, value: str, number: int) -> tuple[str, object] | str:  # noqa: PLR0911
    """(field, value) of one directive, or what is wrong with it."""
    if name == NO_TRANSACTION:
        if number != 1:
            return "'-- mapperdb:no-transaction' must be the first line"
        return "transaction", False
    if name in ("lock-timeout", "statement-timeout"):
        if not DURATION_RE.match(value):
            return f"{name} needs a PostgreSQL duration like 500ms, 5s, 15min or 1h"
        return name.replace("-", "_"), value
    if name == "lock-retries":
        if not value.isdigit():
            return f"lock-retries needs a whole number, got {value!r}"
        return "lock_retries", int(value)
    if name == "role":
        if not ROLE_RE.match(value):
            return f"role needs one role name in lower case, like mapper_owner, got {value!r}"
        return "role", value
    return (
        f"unknown directive 'mapperdb:{name}'; known: no-transaction, lock-timeout, "
        "statement-timeout, lock-retries, role, allow"
    )


def parse_directives(text: str) -> tuple[Directives, list[Problem]]:
    """The header's directives, and a problem for each one that is wrong (with its offset)."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        start, offset = offset, offset + len(raw) + 1
        if not line:
            continue
        if not line.startswith("--"):
            break  # the header ends at the first statement
        match = DIRECTIVE_RE.match(line)
        if not match or match["name"] == ALLOW_DIRECTIVE:
            continue
        result = _directive(match["name"], (match["value"] or "").strip(), number)
        if isinstance(result, str):
            problems.append(Problem(start + raw.index("--"), result))
        else:
            values[result[0]] = result[1]
    return Directives(**values), problems


# -- statements -------------------------------------------------------------------------------

COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
# Whitespace and comments (block comments unnested: PostgreSQL nests them, migrations do not).
LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
SEMICOLON = "ASCII_59"


class LineIndex:
    """Turns character offsets into 1-based (line, column) and back."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def starts(self) -> list[int]:
        # Built on first use: most files of a clean set never need a line number.
        return [0, *(m.end() for m in re.finditer("\n", self.text))]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        line = min(max(line, 1), len(self.starts))
        return self.starts[line - 1] + max(column, 1) - 1


@dataclass(frozen=True)
class Allow:
    """A suppression comment: ``rule`` is allowed for the statement it sits on or above."""

    rule: str
    reason: str
    line: int
    column: int


@dataclass(eq=False)
class Statement:
    index: int  # 1-based position in the file
    node: Any  # a pglast.ast.Node (pglast ships no type stubs)
    start: int  # offset of the statement's first token
    end: int  # offset just past its last token (the semicolon excluded)
    region_start: int  # where the comments above it begin: just past the previous statement
    base: int  # what node ``location`` values are relative to
    file: MigrationFile = field(repr=False)
    allows: list[Allow] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.file.lines.position(self.start)[0]

    @cached_property
    def sql(self) -> str:
        """The statement's text, from its first token to its last (trailing comments left out)."""
        text = self.file.text[self.start : self.end]
        try:
            code = [t for t in scan(text) if t.name not in COMMENT_TOKENS]
        except ParseError:
            return text.rstrip()
        return text[: code[-1].end + 1] if code else text.rstrip()

    def offset_of(self, node: Any) -> int:
        location = getattr(node, "location", None)
        if isinstance(location, int) and location >= 0:
            return self.base + location
        return self.start


def _error_offset(exc: ParseError, base: int, fallback: int) -> int:
    location = exc.args[1] if len(exc.args) > 1 else None
    return base + location if isinstance(location, int) else fallback


def _tokens(text: str) -> tuple[list[Any], Problem | None]:
    try:
        return list(scan(text)), None
    except ParseError as exc:
        return [], Problem(_error_offset(exc, 0, len(text)), str(exc.args[0]))


# -- the file ---------------------------------------------------------------------------------


class MigrationSyntaxError(ConfigError):
    """A file PostgreSQL's parser rejects; reported with file:line, before anything runs."""

    exit_code = 1


def display_path(path: Path) -> str:
    """The path as findings show it: relative to the working directory when it is below it."""
    # getcwd() is already the physical path, and callers pass resolved paths: no syscalls here.
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass(eq=False)
class MigrationFile:
    """One SQL file of a migration set. ``name`` is None for a file outside the naming pattern."""

    path: Path
    text: str
    name: Name | None
    display: str

    @property
    def version(self) -> int | None:
        return self.name.version if self.name else None

    @property
    def slug(self) -> str:
        return self.name.slug if self.name else self.path.stem

    @property
    def direction(self) -> Direction:
        return self.name.direction if self.name else "up"

    @property
    def is_up(self) -> bool:
        return self.direction == "up"

    @cached_property
    def checksum(self) -> str:
        return checksum(self.text)

    @cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.text)

    @cached_property
    def _header(self) -> tuple[Directives, list[Problem]]:
        return parse_directives(self.text)

    @property
    def directive_problems(self) -> list[Problem]:
        return self._header[1]

    @property
    def directives(self) -> Directives:
        """The header directives; a bad one is an error naming file and line."""
        directives, problems = self._header
        if problems:
            raise ConfigError(self.where(problems[0]))
        return directives

    @property
    def no_transaction(self) -> bool:
        """What the runner will do with the file: a bad directive elsewhere does not change it."""
        return not self._header[0].transaction

    def where(self, problem: Problem) -> str:
        return f"{self.path}:{self.lines.position(problem.offset)[0]}: {problem.message}"

    # -- statements ---------------------------------------------------------------------------
    @cached_property
    def _parsed(self) -> tuple[list[Statement], list[Problem]]:
        try:
            return self._whole(), []
        except ParseError:
            tokens, problem = _tokens(self.text)
            if problem is not None:
                return [], [problem]
            return self._piecewise([t for t in tokens if t.name not in COMMENT_TOKENS])

    @property
    def statements(self) -> list[Statement]:
        """Every statement that parses; see ``syntax_errors`` for the pieces that did not."""
        _ = self.allows  # each statement carries the suppressions that belong to it
        return self._parsed[0]

    @property
    def syntax_errors(self) -> list[Problem]:
        return self._parsed[1]

    @property
    def runnable(self) -> list[Statement]:
        """The statements, for running them: a syntax error anywhere raises, naming its line."""
        if self.syntax_errors:
            raise MigrationSyntaxError(self.where(self.syntax_errors[0]))
        return self.statements

    def _whole(self) -> list[Statement]:
        text = self.text
        statements: list[Statement] = []
        region = 0
        for number, raw in enumerate(parse_sql(text), start=1):
            location = raw.stmt_location or 0
            end = location + (raw.stmt_len or len(text) - location)
            # The location may point at the comments above the statement; it starts past them.
            leading = LEADING.match(text, location)
            start = leading.end() if leading else location
            statements.append(Statement(number, raw.stmt, start, end, region, 0, self))
            region = end
        return statements

    def _piecewise(self, code_tokens: list[Any]) -> tuple[list[Statement], list[Problem]]:
        statements: list[Statement] = []
        problems: list[Problem] = []
        piece: list[Any] = []
        region = 0
        for token in [*code_tokens, None]:
            if token is not None and token.name != SEMICOLON:
                piece.append(token)
                continue
            if piece:
                start, end = piece[0].start, piece[-1].end + 1
                try:
                    raws = parse_sql(self.text[start:end])
                except ParseError as exc:
                    problems.append(Problem(_error_offset(exc, start, end), str(exc.args[0])))
                else:
                    statements.extend(
                        Statement(len(statements) + 1, raw.stmt, start, end, region, start, self)
                        for raw in raws
                    )
                region = end
            piece = []
        return statements, problems

    # -- suppressions -------------------------------------------------------------------------
    @cached_property
    def allows(self) -> list[Allow]:
        """Every suppression comment of the file, each attached to its statement if it has one."""
        if "mapperdb:allow" not in self.text:
            return []  # most files: no need to scan for comments
        tokens, _ = _tokens(self.text)
        allows: list[Allow] = []
        for token in tokens:
            if token.name not in COMMENT_TOKENS:
                continue
            match = ALLOW.search(self.text[token.start : token.end + 1])
            if match:
                line, column = self.lines.position(token.start)
                allow = Allow(match["rule"].upper(), (match["reason"] or "").strip(), line, column)
                allows.append(allow)
                owner = self._owner(token.start, line)
                if owner is not None:
                    owner.allows.append(allow)
        return allows

    def _owner(self, offset: int, line: int) -> Statement | None:
        """A suppression belongs to the statement it trails on the same line, else the one below."""
        for stmt in self._parsed[0]:
            if offset >= stmt.end and self.lines.position(stmt.end)[0] == line:
                return stmt
            if stmt.region_start <= offset < stmt.end:
                return stmt
        return None

    def statement_at(self, offset: int) -> Statement | None:
        for stmt in self.statements:
            if stmt.region_start <= offset <= stmt.end:
                return stmt
        return None

    def snippet(self, stmt: Statement, width: int = 60) -> str:
        text = " ".join(self.text[stmt.start : stmt.end].split())
        return text if len(text) <= width else text[: width - 3] + "..."


def read_file(path: Path, pattern: Pattern = DEFAULT, root: Path | None = None) -> MigrationFile:
    """One file, named by ``pattern`` relative to ``root`` (default: the pattern's own root)."""
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{display_path(path)}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {display_path(path)}: {exc.strerror}") from None
    if root is None and len(path.parents) >= pattern.depth:
        root = pattern.root_of(path)
    name = pattern.name(pattern.relative(path, root)) if root is not None else None
    return MigrationFile(path, text, name, display_path(path))


# -- the set ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: MigrationFile
    down: MigrationFile | None

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def _example(pattern: Pattern) -> str:
    return pattern.template.replace("{version:4}", "0001").replace("{slug}", "slug")


def load_migrations(directory: Path, pattern: Pattern = DEFAULT) -> list[Migration]:
    """Every migration in ``directory``, ordered by version; naming problems name the file."""
    if not directory.is_dir():
        raise ConfigError(f"migrations directory {directory} does not exist; pass --dir")
    files: dict[int, dict[str, Path]] = {}
    slugs: dict[int, str] = {}
    for path in pattern.candidates(directory):
        name = pattern.name(pattern.relative(path, directory))
        if name is None:
            raise ConfigError(
                f"{path}: malformed migration file name; expected {pattern.template} "
                f"(such as {_example(pattern)}; lowercase slug with underscores)"
            )
        version, slug, kind = name.version, name.slug, name.direction
        if version == 0:
            raise ConfigError(f"{path}: version 0000 is reserved for 'nothing applied'")
        if slugs.setdefault(version, slug) != slug or kind in files.setdefault(version, {}):
            raise ConfigError(
                f"{path}: duplicate version {version:04d} (also {version:04d}_{slugs[version]})"
            )
        files[version][kind] = path
    migrations = []
    for version in sorted(files):
        pair = files[version]
        if "up" not in pair or (pattern.has_downs and "down" not in pair):
            have, missing = ("down", "up") if "up" not in pair else ("up", "down")
            raise ConfigError(f"{pair[have]}: missing its {missing} file")
        down = read_file(pair["down"], pattern, directory) if "down" in pair else None
        migrations.append(
            Migration(version, slugs[version], read_file(pair["up"], pattern, directory), down)
        )
    return migrations
