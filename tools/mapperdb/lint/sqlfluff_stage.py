"""The style stage: sqlfluff's Python API, in process, with the repository's ``.sqlfluff``.

sqlfluff's PostgreSQL grammar has gaps on SQL that PostgreSQL accepts. A statement sqlfluff cannot
parse gets one STY001 warning that names it (style not checked there), never a crash or a silent
skip; and the 20 kB large-file skip is turned off so no file goes unchecked.
"""

from __future__ import annotations

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


@cache
def _linter(config_dir: Path) -> Any:
    from sqlfluff.core import FluffConfig, Linter  # noqa: PLC0415 - sqlfluff is slow to import

    config = FluffConfig.from_path(
        str(config_dir),
        overrides={"dialect": "postgres", "large_file_skip_byte_limit": 0},
    )
    return Linter(config=config)


def style_hits(files: list[ParsedFile]) -> list[Hit]:
    hits: list[Hit] = []
    for pf in files:
        linter = _linter(pf.file.path.parent)
        try:
            linted = linter.lint_string(pf.file.text, fname=str(pf.file.path))
        except Exception as exc:
            message = (
                f"sqlfluff failed on this file, style not checked: {type(exc).__name__}: {exc}"
            )
            hits.append(Hit(pf.file.display, 0, UNPARSED, Severity.WARNING, message))
            continue
        hits.extend(_hits(pf, linted.get_violations()))
    return hits


def _hits(pf: ParsedFile, violations: list[Any]) -> list[Hit]:
    hits: list[Hit] = []
    unparsed: set[int] = set()
    for violation in violations:
        code = violation.rule_code()
        position = (int(violation.line_no or 1), int(violation.line_pos or 1))
        if code not in PARSE_CODES:
            hits.append(
                Hit(pf.file.display, 0, PREFIX + code, Severity.ERROR, violation.desc(), position)
            )
            continue
        statement = pf.statement_at(pf.lines.offset(*position))
        key = statement.start if statement else -1
        if key in unparsed:
            continue
        unparsed.add(key)
        what = f"`{pf.snippet(statement)}`" if statement else "this part of the file"
        message = f"sqlfluff cannot parse {what}; its style is not checked"
        hits.append(Hit(pf.file.display, 0, UNPARSED, Severity.WARNING, message, position))
    return hits
