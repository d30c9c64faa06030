"""``policies/compliance/``: controls mapped to evidence, and the per-environment report.

Each ``*.toml`` there holds a ``framework`` and ``[[control]]`` entries with ``id``, ``title``
and evidence: ``checks`` (checkov ids, stock or custom, and cross-layer ``LMX*`` ids; a
custom check also counts for every control its own ``CONTROLS`` names),
``sql_rules`` (``mapperdb lint`` rule ids) and ``tests`` (``path::function``). A control's status
per environment comes from the checks and SQL rules (tests are listed, run by pytest):

- ``fail``: an unwaived failure of any of its checks or an error of any of its SQL rules;
- ``waived``: failures, all waived (the report gives reason, owner and expiry);
- ``pass``: at least one check or rule gave a result and none failed;
- ``not covered``: no evidence, or evidence that produced no result. Never passing.
"""

from __future__ import annotations

import ast
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mapperdb.errors import ConfigError
from mapperdb.findings import Finding, Severity
from mapperdb.infra.policy import Scan

COMPLIANCE_DIR = "policies/compliance"
Id = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_.\-]+$")]


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    title: Annotated[str, StringConstraints(min_length=5)]
    checks: tuple[str, ...] = ()
    sql_rules: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()


class Framework(BaseModel):
    model_config = ConfigDict(extra="forbid")

    framework: str
    control: list[Control] = Field(default_factory=list)


@dataclass(frozen=True)
class Mapped:
    framework: str
    control: Control
    file: Path


def load_controls(root: Path) -> list[Mapped]:
    """Every control of policies/compliance/*.toml; a duplicate id is a ConfigError."""
    mapped: list[Mapped] = []
    for path in sorted((root / COMPLIANCE_DIR).glob("*.toml")):
        try:
            parsed = Framework.model_validate(tomllib.loads(path.read_text("utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            first = str(exc).splitlines()
            raise ConfigError(f"{path}: {' '.join(first[:3])}") from None
        mapped += [Mapped(parsed.framework, control, path) for control in parsed.control]
    ids = [m.control.id for m in mapped]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{COMPLIANCE_DIR}: duplicate control id(s) {', '.join(duplicates)}")
    return mapped


def named_test_exists(root: Path, test_id: str) -> bool:
    """``tests/x.py::test_name`` names a test function (or a method ``Class::test``)."""
    path, _, name = test_id.partition("::")
    file = root / path
    if not name or not file.is_file():
        return False
    parts = name.split("::")
    nodes: list[ast.stmt] = ast.parse(file.read_text("utf-8")).body
    for part in parts:
        found = [
            n
            for n in nodes
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and n.name == part
        ]
        if not found:
            return False
        nodes = found[0].body if isinstance(found[0], ast.ClassDef) else []
    return True


@dataclass
class Evidence:
    kind: str  # "check", "sql_rule" or "test"
    id: str
    status: str  # pass / fail / waived / no result / listed
    detail: list[str] = field(default_factory=list)


@dataclass
class ControlStatus:
    framework: str
    id: str
    title: str
    status: str
    evidence: list[Evidence]

    def as_json(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "evidence": [
                {"kind": e.kind, "id": e.id, "status": e.status, "detail": e.detail}
                for e in self.evidence
            ],
        }


def _check_evidence(check: str, env: str, scan: Scan) -> Evidence:
    if check.startswith("LMX"):
        errors = [
            f.message
            for f in scan.findings
            if f.rule == check and f.extra.get("environment") == env
        ]
        return Evidence("check", check, "fail" if errors else "pass", errors)
    results = [r for r in scan.results if r.check == check and r.environment == env]
    failed = [r for r in results if not r.passed]
    unwaived = [r for r in failed if r.waiver is None]
    if unwaived:
        return Evidence("check", check, "fail", [r.address for r in unwaived])
    if failed:
        detail = []
        for r in failed:
            assert r.waiver is not None
            w = r.waiver.waiver
            detail.append(f"{r.address}: waived until {w.expires} ({w.owner}): {w.reason}")
        return Evidence("check", check, "waived", detail)
    if results:
        return Evidence("check", check, "pass", [f"{len(results)} resource(s) pass"])
    return Evidence("check", check, "no result", ["no resource of its types in this stack"])


def _rule_evidence(rule: str, lint_findings: list[Finding]) -> Evidence:
    errors = [
        f"{f.file}:{f.line}"
        for f in lint_findings
        if f.rule == rule and f.severity is Severity.ERROR
    ]
    return Evidence("sql_rule", rule, "fail" if errors else "pass", errors)


def _combine(evidence: list[Evidence]) -> str:
    judged = [e.status for e in evidence if e.kind != "test" and e.status != "no result"]
    if not judged:
        return "not covered"
    for status in ("fail", "waived"):
        if status in judged:
            return status
    return "pass"


def evidence_checks(control: Control, serving: dict[str, tuple[str, ...]]) -> list[str]:
    """The control's checks: those its file lists, then the custom checks whose CONTROLS name
    it (``serving``: check id -> its CONTROLS), so a new check needs no edit here."""
    named = [check for check, controls in sorted(serving.items()) if control.id in controls]
    return list(dict.fromkeys([*control.checks, *named]))


def report(
    controls: list[Mapped],
    scan: Scan,
    lint_findings: list[Finding],
    serving: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, list[ControlStatus]]:
    """env -> each control's status with its evidence."""
    out: dict[str, list[ControlStatus]] = {}
    for env in scan.environments:
        rows = []
        for mapped in controls:
            c = mapped.control
            checks = evidence_checks(c, serving or {})
            evidence = [_check_evidence(check, env, scan) for check in checks]
            evidence += [_rule_evidence(rule, lint_findings) for rule in c.sql_rules]
            evidence += [Evidence("test", test, "listed") for test in c.tests]
            rows.append(
                ControlStatus(mapped.framework, c.id, c.title, _combine(evidence), evidence)
            )
        out[env] = rows
    return out


def to_json(statuses: dict[str, list[ControlStatus]]) -> str:
    data = {
        "environments": {
            env: {
                "summary": _summary(rows),
                "controls": [row.as_json() for row in rows],
            }
            for env, rows in statuses.items()
        }
    }
    return json.dumps(data, indent=2) + "\n"


def _summary(rows: list[ControlStatus]) -> dict[str, int]:
    keys = ("pass", "fail", "waived", "not covered")
    return {key: sum(row.status == key for row in rows) for key in keys}


def to_markdown(statuses: dict[str, list[ControlStatus]]) -> str:
    lines = ["# Compliance report", ""]
    lines.append(
        "Generated by `mapperdb policy --report markdown` from policies/compliance/. Status "
        "comes from checkov checks, cross-layer checks and SQL rules; tests are listed."
    )
    for env, rows in statuses.items():
        summary = ", ".join(f"{count} {key}" for key, count in _summary(rows).items())
        lines += ["", f"## {env}", "", summary, ""]
        lines += ["| control | title | status | evidence |", "|---|---|---|---|"]
        for row in rows:
            evidence = "<br>".join(_evidence_cell(e) for e in row.evidence) or "none"
            lines.append(f"| {row.id} | {row.title} | **{row.status}** | {evidence} |")
    return "\n".join(lines) + "\n"


def _evidence_cell(evidence: Evidence) -> str:
    text = f"`{evidence.id}` {evidence.status}"
    if evidence.status in ("fail", "waived") and evidence.detail:
        text += ": " + "; ".join(d.replace("|", "\\|") for d in evidence.detail)
    return text
