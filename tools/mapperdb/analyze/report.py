"""The analyzer's report as text, Markdown, JSON (documented in docs/operations.md) or SARIF."""

from __future__ import annotations

import json
from typing import Any

from mapperdb import __version__
from mapperdb.analyze.model import CHECKS
from mapperdb.analyze.run import Report
from mapperdb.findings import Finding, Severity
from mapperdb.report import RuleInfo, ToolInfo, sarif

ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
FORMATS = ("text", "json", "markdown", "sarif")


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (ORDER[f.severity], f.rule, f.file))


def _counts(report: Report) -> str:
    counts = {s: sum(f.severity is s for f in report.findings) for s in Severity}
    return ", ".join(f"{counts[s]} {s.value}" for s in Severity)


def text(report: Report) -> str:
    lines = [
        f"mapperdb analyze: {report.database} (PostgreSQL {report.server_version}, "
        f"as {report.user}): {_counts(report)}"
    ]
    for f in _ordered(report.findings):
        message = f.message.split("; evidence: ")[0]
        lines.append(f"{f.severity.value:<7} {f.rule} {f.file}: {message}")
        lines.append(f"        evidence: {f.extra['evidence']}")
        lines.append(f"        fix: {f.extra['fix']}")
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    return " ".join(value.split()).replace("|", "\\|")


def markdown(report: Report) -> str:
    out = [
        f"## mapperdb analyze: `{report.database}`",
        "",
        f"PostgreSQL {report.server_version}, as `{report.user}`: {_counts(report)}.",
        "",
    ]
    if report.findings:
        out += [
            "| severity | check | object | finding | evidence | fix |",
            "|---|---|---|---|---|---|",
        ]
        for f in _ordered(report.findings):
            message = f.message.split("; evidence: ")[0]
            out.append(
                f"| {f.severity.value} | {f.rule} {CHECKS[f.rule].name} | `{_cell(f.file)}` | "
                f"{_cell(message)} | {_cell(f.extra['evidence'])} | {_cell(f.extra['fix'])} |"
            )
    for f in _ordered(report.findings):
        if "migration_up" in f.extra:
            out += [
                "",
                f"### Migration for `{f.extra['index']}`",
                "",
                "```sql",
                f.extra["migration_up"].rstrip(),
                "```",
            ]
    return "\n".join(out) + "\n"


def as_json(report: Report) -> str:
    findings: list[dict[str, Any]] = []
    for f in _ordered(report.findings):
        row: dict[str, Any] = {
            "rule": f.rule,
            "name": CHECKS[f.rule].name,
            "severity": f.severity.value,
            "object": f.file,
            "message": f.message.split("; evidence: ")[0],
            "evidence": f.extra["evidence"],
            "fix": f.extra["fix"],
        }
        if "migration_up" in f.extra:
            row["migration"] = {
                "index": f.extra["index"],
                "up": f.extra["migration_up"],
                "down": f.extra["migration_down"],
            }
        findings.append(row)
    document = {
        "database": report.database,
        "server_version": report.server_version,
        "user": report.user,
        "ok": report.ok,
        "checks": sorted(CHECKS),
        "failed_checks": report.failed,
        "findings": findings,
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def tool() -> ToolInfo:
    rules = {
        c.id: RuleInfo(c.id, c.name, c.summary, f"{c.why}\n\nFix: {c.fix}", c.severity)
        for c in CHECKS.values()
    }
    return ToolInfo("mapperdb analyze", __version__, rules=rules)


def render(report: Report, fmt: str) -> str:
    if fmt == "sarif":
        return sarif(sorted(report.findings), tool())
    return {"text": text, "markdown": markdown, "json": as_json}[fmt](report)
