"""One place that turns findings into text, JSON, SARIF 2.1.0, GitHub annotations or Markdown.

Every gate stage (SQL lint, migration checks, infra policies) hands a ``list[Finding]`` and a
:class:`ToolInfo` describing itself and its rules; nothing here knows about any one stage.
``mapperdb check`` adds a :class:`StageResult` per stage, run or skipped, and the same functions
render those (:func:`render_stages`).

Text lists what to act on first: error-level safety and security findings (locks, failed
migrations, tenant isolation, checkov), then other errors (style), then warnings and notes.

JSON (stable): ``{"findings": [{"rule", "severity", "file", "line", "column", "message"}]}``,
sorted by file, line, column, rule; severity is ``error``, ``warning`` or ``info``.
"""

from __future__ import annotations

import json
import re
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
    category: str | None = None  # one of CATEGORY_RANK; None: from the id's prefix


# What a rule's findings are about, by the letters its id starts with; what is not named here
# counts as "design". Safety and security come before design, design before style.
PREFIX_CATEGORY = {
    "LOCK": "safety",
    "MIG": "safety",
    "SYN": "safety",
    "HYG": "safety",
    "TEN": "security",
    "CKV": "security",
    "TYPE": "design",
    "STY": "style",
    "SQLFLUFF": "style",
}
CATEGORY_RANK = {"safety": 0, "security": 0, "design": 1, "style": 2}
SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def category(rule: str, tool: ToolInfo | None = None) -> str:
    info = tool.rules.get(rule) if tool else None
    if info is not None and info.category:
        return info.category
    match = re.match(r"[A-Za-z]+", rule)
    return PREFIX_CATEGORY.get(match.group(0).upper() if match else "", "design")


def importance(finding: Finding, tool: ToolInfo | None = None) -> tuple[int, int]:
    """Lower comes first: errors before warnings, safety and security before style."""
    return SEVERITY_RANK[finding.severity], CATEGORY_RANK.get(category(finding.rule, tool), 1)


def by_importance(findings: list[Finding], tool: ToolInfo | None = None) -> list[Finding]:
    return sorted(findings, key=lambda f: (importance(f, tool), f))


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


def _line(f: Finding) -> str:
    # One finding, one line: editors and grep read `file:line:col:` at the start of each.
    return f"{f.file}:{f.line}:{f.column}: {f.rule} {' '.join(f.message.split())}"


def text(findings: list[Finding], tool: ToolInfo) -> str:
    """What to act on first (see the module doc), then by file and line."""
    lines = [_line(f) for f in by_importance(findings, tool)]
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
    return json.dumps(sarif_log(findings, tool), indent=2) + "\n"


def sarif_log(findings: list[Finding], tool: ToolInfo) -> dict[str, Any]:
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
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _github_line(level: str, props: tuple[tuple[str, object], ...], message: str) -> str:
    joined = ",".join(f"{key}={_escape_property(str(value))}" for key, value in props)
    return f"::{level} {joined}::{_escape_data(message)}"


def github(findings: list[Finding], tool: ToolInfo) -> str:
    """GitHub Actions workflow commands: one annotation per finding on the PR's diff."""
    lines = [
        _github_line(
            GITHUB_LEVEL[f.severity],
            (("file", f.file), ("line", f.line), ("col", f.column), ("title", f.rule)),
            f"{f.rule} {f.message}",
        )
        for f in findings
    ]
    return "\n".join(lines) + ("\n" if lines else "")


# --- the gate's stages -------------------------------------------------------------------------

STAGE_FORMATS = (*FORMATS, "markdown")
MARKDOWN_FINDINGS = 50  # a job summary is for reading; the rest are in the SARIF upload


@dataclass
class StageResult:
    """One stage of ``mapperdb check``: what it found, or why it did not run."""

    name: str
    summary: str
    findings: list[Finding] = field(default_factory=list)
    duration_s: float = 0.0
    skipped: str | None = None  # the reason, when the stage did not run

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def status(self) -> str:
        if self.skipped is not None:
            return "skipped"
        return "passed" if self.ok else "failed"

    def counts(self) -> dict[str, int]:
        return {sev.value: sum(f.severity is sev for f in self.findings) for sev in Severity}

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "skipped": self.skipped,
            "summary": self.summary,
            "duration_s": round(self.duration_s, 3),
            "counts": self.counts(),
            "findings": [f.as_json() for f in self.findings],
        }


def render_stages(
    results: list[StageResult], fmt: str, tool: ToolInfo, changed_since: str | None = None
) -> str:
    """The gate's report; every format says which stages ran, passed, failed or were skipped.

    json (stable): ``{"ok", "changed_since", "stages": [{"name", "ok", "status" (passed, failed
    or skipped), "skipped" (the reason, or null), "summary", "duration_s", "counts" ({"error",
    "warning", "info"}), "findings"}]}``. sarif: every finding, the stages in the run's
    ``properties.stages`` and a note per skipped stage in ``invocations[0]``. github: an
    annotation per error or warning, a notice per skipped stage. markdown: a job summary.
    """
    renderers: dict[str, Callable[[list[StageResult], ToolInfo, str | None], str]] = {
        "text": _stages_text,
        "json": _stages_json,
        "sarif": _stages_sarif,
        "github": _stages_github,
        "markdown": _stages_markdown,
    }
    return renderers[fmt](results, tool, changed_since)


def _passed(results: list[StageResult]) -> bool:
    return all(r.ok for r in results)


def _stages_text(results: list[StageResult], tool: ToolInfo, _since: str | None) -> str:
    lines = []
    for r in results:
        if r.skipped is not None:
            lines.append(f"skip {r.name:<12} {r.skipped}")
            continue
        mark = "ok  " if r.ok else "FAIL"
        lines.append(f"{mark} {r.name:<12} {r.summary} ({r.duration_s:.1f} s)")
        # Accepted (info) findings are in the JSON and SARIF output; text shows what to act on.
        actionable = [f for f in r.findings if f.severity is not Severity.INFO]
        lines.extend(f"     {_line(f)}" for f in by_importance(actionable, tool))
    lines.append("gate: passed" if _passed(results) else "gate: FAILED")
    return "\n".join(lines)


def _stages_json(results: list[StageResult], _tool: ToolInfo, since: str | None) -> str:
    data = {
        "ok": _passed(results),
        "changed_since": since,
        "stages": [r.as_json() for r in results],
    }
    return json.dumps(data, indent=2)


def _stage_property(r: StageResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "status": r.status,
        "reason": r.skipped,
        "summary": r.summary,
        "durationSeconds": round(r.duration_s, 3),
    }


def _stages_sarif(results: list[StageResult], tool: ToolInfo, since: str | None) -> str:
    log = sarif_log(sorted(f for r in results for f in r.findings), tool)
    run = log["runs"][0]
    run["invocations"] = [
        {
            "executionSuccessful": True,  # the gate ran; its verdict is in the results
            "toolExecutionNotifications": [
                {
                    "level": "note",
                    "message": {"text": f"stage {r.name} skipped: {r.skipped}"},
                    "descriptor": {"id": r.name},
                }
                for r in results
                if r.skipped is not None
            ],
        }
    ]
    run["properties"] = {
        "changedSince": since,
        "stages": [_stage_property(r) for r in results],
    }
    return json.dumps(log, indent=2)


def _stages_github(results: list[StageResult], tool: ToolInfo, _since: str | None) -> str:
    # Annotations are for what a reviewer must act on; accepted (info) findings are left out.
    findings = [f for r in results for f in r.findings if f.severity is not Severity.INFO]
    notices = [
        _github_line("notice", (("title", f"mapperdb check: {r.name} skipped"),), r.skipped)
        for r in results
        if r.skipped is not None
    ]
    return (github(sorted(findings), tool) + "".join(f"{n}\n" for n in notices)).rstrip("\n")


def _cell(value: str) -> str:
    return " ".join(value.split()).replace("|", "\\|")


def _stages_markdown(results: list[StageResult], tool: ToolInfo, since: str | None) -> str:
    mark = {"passed": "✅ passed", "failed": "❌ failed", "skipped": "⏭️ skipped"}
    scope = f" (changes since `{since}`)" if since else ""
    lines = [
        f"## mapperdb check: {'passed' if _passed(results) else 'FAILED'}{scope}",
        "",
        "| stage | result | time | errors | warnings | accepted | details |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for r in results:
        if r.skipped is not None:
            lines.append(f"| {r.name} | {mark['skipped']} | | | | | {_cell(r.skipped)} |")
            continue
        c = r.counts()
        lines.append(
            f"| {r.name} | {mark[r.status]} | {r.duration_s:.1f} s | {c['error']} |"
            f" {c['warning']} | {c['info']} | {_cell(r.summary)} |"
        )
    actionable = by_importance(
        [f for r in results for f in r.findings if f.severity is not Severity.INFO], tool
    )
    if actionable:
        lines += [
            "",
            "### Findings, most important first",
            "",
            "| severity | category | rule | where | message |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {f.severity.value} | {category(f.rule, tool)} | `{f.rule}` |"
            f" `{f.file}:{f.line}` | {_cell(f.message)} |"
            for f in actionable[:MARKDOWN_FINDINGS]
        ]
        if len(actionable) > MARKDOWN_FINDINGS:
            lines.append(
                f"\n…and {len(actionable) - MARKDOWN_FINDINGS} more; the SARIF output has them all."
            )
    return "\n".join(lines)
