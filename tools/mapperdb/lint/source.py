"""A migration file as statements: pglast nodes with their places in the text, and comments.

The whole file is parsed at once (so ``begin atomic ... end`` bodies keep their semicolons); if
that fails, the file is cut at the scanner's top-level semicolons and each piece is parsed on its
own, so one syntax error becomes one finding at its line and the rest of the file is still linted.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pglast import parse_sql
from pglast.parser import ParseError, scan

from mapperdb.lint.files import ALLOW, Allow, MigrationFile

COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
ALLOW_MARKER = "mapperdb:allow"
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


@dataclass
class Statement:
    node: Any  # a pglast.ast.Node (pglast ships no type stubs)
    start: int  # offset of the statement's first token
    end: int  # offset just past its last token (the semicolon excluded)
    region_start: int  # where the comments above it begin: just past the previous statement
    base: int  # what node ``location`` values are relative to
    allows: list[Allow] = field(default_factory=list)

    def offset_of(self, node: Any) -> int:
        location = getattr(node, "location", None)
        if isinstance(location, int) and location >= 0:
            return self.base + location
        return self.start


@dataclass
class SyntaxProblem:
    offset: int
    message: str


@dataclass
class ParsedFile:
    file: MigrationFile
    lines: LineIndex
    statements: list[Statement]
    syntax_errors: list[SyntaxProblem]
    allows: list[Allow]  # every suppression comment of the file, attached or not

    def statement_at(self, offset: int) -> Statement | None:
        for stmt in self.statements:
            if stmt.region_start <= offset <= stmt.end:
                return stmt
        return None

    def snippet(self, stmt: Statement, width: int = 60) -> str:
        text = " ".join(self.file.text[stmt.start : stmt.end].split())
        return text if len(text) <= width else text[: width - 3] + "..."


def _tokens(text: str) -> tuple[list[Any], SyntaxProblem | None]:
    try:
        return list(scan(text)), None
    except ParseError as exc:
        return [], SyntaxProblem(_error_offset(exc, 0, len(text)), str(exc.args[0]))


def _error_offset(exc: ParseError, base: int, fallback: int) -> int:
    location = exc.args[1] if len(exc.args) > 1 else None
    return base + location if isinstance(location, int) else fallback


def _whole_file(text: str) -> list[Statement]:
    statements: list[Statement] = []
    region = 0
    for raw in parse_sql(text):
        location = raw.stmt_location or 0
        end = location + (raw.stmt_len or len(text) - location)
        # The location may point at the comments above the statement; it starts past them.
        leading = LEADING.match(text, location)
        start = leading.end() if leading else location
        statements.append(Statement(raw.stmt, start, end, region, 0))
        region = end
    return statements


def _piecewise(text: str, code_tokens: list[Any]) -> tuple[list[Statement], list[SyntaxProblem]]:
    statements: list[Statement] = []
    problems: list[SyntaxProblem] = []
    piece: list[Any] = []
    region = 0
    for token in [*code_tokens, None]:
        if token is not None and token.name != SEMICOLON:
            piece.append(token)
            continue
        if piece:
            start, end = piece[0].start, piece[-1].end + 1
            try:
                raws = parse_sql(text[start:end])
            except ParseError as exc:
                problems.append(SyntaxProblem(_error_offset(exc, start, end), str(exc.args[0])))
            else:
                statements.extend(Statement(raw.stmt, start, end, region, start) for raw in raws)
            region = end
        piece = []
    return statements, problems


def _attach(
    allows: list[Allow], offsets: list[int], lines: LineIndex, stmts: list[Statement]
) -> None:
    """A suppression belongs to the statement it trails on the same line, else the one below it."""
    for allow, offset in zip(allows, offsets, strict=True):
        owner = None
        for stmt in stmts:
            if offset >= stmt.end and lines.position(stmt.end)[0] == allow.line:
                owner = stmt
                break
            if stmt.region_start <= offset < stmt.end:
                owner = stmt
                break
        if owner is not None:
            owner.allows.append(allow)


def _allows(text: str, lines: LineIndex, statements: list[Statement]) -> list[Allow]:
    """The suppression comments of a file, each attached to its statement."""
    if ALLOW_MARKER not in text:
        return []  # most files: no need to scan for comments
    tokens, _ = _tokens(text)
    allows: list[Allow] = []
    offsets: list[int] = []
    for token in tokens:
        if token.name not in COMMENT_TOKENS:
            continue
        match = ALLOW.search(text[token.start : token.end + 1])
        if match:
            line, column = lines.position(token.start)
            allows.append(
                Allow(match["rule"].upper(), (match["reason"] or "").strip(), line, column)
            )
            offsets.append(token.start)
    _attach(allows, offsets, lines, statements)
    return allows


def parse_file(file: MigrationFile) -> ParsedFile:
    text = file.text
    lines = LineIndex(text)
    problems: list[SyntaxProblem] = []
    try:
        statements = _whole_file(text)
    except ParseError:
        tokens, scan_problem = _tokens(text)
        if scan_problem is not None:
            statements, problems = [], [scan_problem]
        else:
            code_tokens = [t for t in tokens if t.name not in COMMENT_TOKENS]
            statements, problems = _piecewise(text, code_tokens)
    return ParsedFile(file, lines, statements, problems, _allows(text, lines, statements))
