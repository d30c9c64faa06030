"""The one shape every gate stage reports problems in.

The SQL gate, the infra policies and the migration checks all produce :class:`Finding` objects;
``mapperdb.report`` turns a list of them into text, JSON, SARIF or GitHub annotations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    column: int
    rule: str
    severity: Severity
    message: str
    # Optional extras a renderer may use (help URL, suggested fix); not part of ordering.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        if not self.extra:
            data.pop("extra")
        return data


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def counted(number: int, noun: str) -> str:
    """``counted(1, "file")`` is "1 file", ``counted(2, "file")`` "2 files"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
