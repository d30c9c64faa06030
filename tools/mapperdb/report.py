"""One place that turns findings into text, JSON, SARIF 2.1.0 or GitHub annotations.

Every gate stage (SQL lint, migration checks, infra policies) hands a ``list[Finding]`` and a
:class:`ToolInfo` describing itself and its rules; nothing here knows about any one stage.

JSON (stable): ``{"findings": [{"rule", "severity", "file", "line", "column", "message"}]}``,
sorted by file, line, column, rule; severity is ``error``, ``warning`` or ``info``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mapperdb.findings import Finding, Severity

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
JSON_KEYS = ("rule", "severity", "file", "line", "column", "message")


@dataclass(frozen=True)
class RuleInfo:
    id: str
    name: str
    summary: str
    help: str = ""  # markdown: why it matters and what to do instead
    severity: Severity = Severity.ERROR
    help_uri: str | None = None


@dataclass(frozen=True)
class ToolInfo:
    name: str
    version: str
    information_uri: str | None = None
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)


def render(findings: list[Finding], fmt: str, tool: ToolInfo) -> str:
    renderers: dict[str, Callable[[list[Finding], ToolInfo], str]] = {
        "text": text,
        "json": to_json,
        "sarif": sarif,
        "github": github,
    }
    return renderers[fmt](sorted(findings), tool)


def text(findings: list[Finding], tool: ToolInfo) -> str:
    # One finding, one line: editors and grep read `file:line:col:` at the start of each.
    lines = [
        f"{f.file}:{f.line}:{f.column}: {f.rule} {' '.join(f.message.split())}" for f in findings
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def to_json(findings: list[Finding], tool: ToolInfo) -> str:
    rows = []
    for finding in findings:
        data = finding.as_json()
        rows.append({key: data[key] for key in JSON_KEYS})
    return json.dumps({"findings": rows}, indent=2) + "\n"


def _sarif_rule(info: RuleInfo) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": info.id,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "defaultConfiguration": {"level": SARIF_LEVEL[info.severity]},
    }
    if info.help:
        rule["help"] = {"text": info.help, "markdown": info.help}
    if info.help_uri:
        rule["helpUri"] = info.help_uri
    return rule


def sarif(findings: list[Finding], tool: ToolInfo) -> str:
    ids = list(dict.fromkeys([*tool.rules, *(f.rule for f in findings)]))
    rules = [
        _sarif_rule(tool.rules.get(rule_id) or RuleInfo(rule_id, rule_id, rule_id))
        for rule_id in ids
    ]
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    driver: dict[str, Any] = {"name": tool.name, "version": tool.version, "rules": rules}
    if tool.information_uri:
        driver["informationUri"] = tool.information_uri
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file},
                        "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
                    }
                }
            ],
        }
        for f in findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(findings: list[Finding], tool: ToolInfo) -> str:
    """GitHub Actions workflow commands: one annotation per finding on the PR's diff."""
    lines = []
    for f in findings:
        props = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("file", f.file),
                ("line", f.line),
                ("col", f.column),
                ("title", f.rule),
            )
        )
        lines.append(
            f"::{GITHUB_LEVEL[f.severity]} {props}::{_escape_data(f'{f.rule} {f.message}')}"
        )
    return "\n".join(lines) + ("\n" if lines else "")
