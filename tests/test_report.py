"""The shared renderers: text, stable JSON, SARIF 2.1.0 (schema-validated), GitHub annotations."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mapperdb.findings import Finding, Severity
from mapperdb.lint.api import tool_info
from mapperdb.report import RuleInfo, ToolInfo, render

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
TOOL = ToolInfo(
    "mapperdb-lint",
    "0.1.0",
    None,
    {"LOCK001": RuleInfo("LOCK001", "create-index-concurrently", "Index without CONCURRENTLY.")},
)
FINDINGS = [
    Finding("sql/m/0002_b.up.sql", 7, 3, "TEN005", Severity.WARNING, "wrap it, 100%: now"),
    Finding("sql/m/0002_b.up.sql", 2, 1, "LOCK001", Severity.ERROR, "index on orders\nis slow"),
    Finding("sql/m/0001_a.up.sql", 1, 1, "X1", Severity.INFO, "a note"),
]


def test_text_is_file_line_column_rule_message_most_important_first() -> None:
    assert render(FINDINGS, "text", TOOL).splitlines() == [
        "sql/m/0002_b.up.sql:2:1: LOCK001 index on orders is slow",
        "sql/m/0002_b.up.sql:7:3: TEN005 wrap it, 100%: now",
        "sql/m/0001_a.up.sql:1:1: X1 a note",
    ]
    assert render([], "text", TOOL) == ""


def test_text_lists_safety_and_security_errors_before_style_errors() -> None:
    findings = [
        Finding("sql/m/0001_a.up.sql", 1, 1, "SQLFLUFF-LT01", Severity.ERROR, "spacing"),
        Finding("sql/m/0001_a.up.sql", 2, 1, "STY002", Severity.ERROR, "qualify it"),
        Finding("sql/m/0001_a.up.sql", 3, 1, "TYPE001", Severity.ERROR, "timestamptz"),
        Finding("sql/m/0003_c.up.sql", 9, 1, "TEN001", Severity.ERROR, "no RLS"),
        Finding("sql/m/0002_b.up.sql", 5, 1, "LOCK001", Severity.ERROR, "not concurrently"),
        Finding("sql/m/0001_a.up.sql", 4, 1, "LOCK009", Severity.WARNING, "a drop"),
        Finding("policies/x.json", 1, 1, "CKV_AZURE_1", Severity.ERROR, "open"),
    ]
    rules = [line.split()[1] for line in render(findings, "text", TOOL).splitlines()]
    assert rules == [
        "CKV_AZURE_1",  # safety and security errors, by file and line
        "LOCK001",
        "TEN001",
        "TYPE001",  # then design, then style
        "SQLFLUFF-LT01",
        "STY002",
        "LOCK009",  # then warnings
    ]


def test_a_rule_may_name_its_category() -> None:
    tool = ToolInfo("t", "1", None, {"X9": RuleInfo("X9", "x", "x", category="security")})
    findings = [
        Finding("a.sql", 1, 1, "STY002", Severity.ERROR, "style"),
        Finding("b.sql", 1, 1, "X9", Severity.ERROR, "a leak"),
    ]
    assert [line.split()[1] for line in render(findings, "text", tool).splitlines()] == [
        "X9",
        "STY002",
    ]


def test_json_shape_is_stable() -> None:
    data = json.loads(render(FINDINGS, "json", TOOL))
    assert list(data) == ["findings"]
    assert data["findings"][1] == {
        "rule": "LOCK001",
        "severity": "error",
        "file": "sql/m/0002_b.up.sql",
        "line": 2,
        "column": 1,
        "message": "index on orders\nis slow",
    }
    assert [f["severity"] for f in data["findings"]] == ["info", "error", "warning"]


def test_sarif_validates_against_the_official_schema() -> None:
    log = json.loads(render(FINDINGS, "sarif", TOOL))
    jsonschema.validate(log, json.loads(SCHEMA.read_text("utf-8")))
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["LOCK001", "X1", "TEN005"]  # declared rules first, then any others met
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"LOCK001": "error", "TEN005": "warning", "X1": "note"}
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]


def test_sarif_of_the_lint_rule_catalog_validates() -> None:
    log = json.loads(render(FINDINGS, "sarif", tool_info()))
    jsonschema.validate(log, json.loads(SCHEMA.read_text("utf-8")))
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) > 30


def test_github_annotations_escape_data_and_properties() -> None:
    lines = render(FINDINGS, "github", TOOL).splitlines()
    assert lines[0] == "::notice file=sql/m/0001_a.up.sql,line=1,col=1,title=X1::X1 a note"
    assert lines[1] == (
        "::error file=sql/m/0002_b.up.sql,line=2,col=1,title=LOCK001"
        "::LOCK001 index on orders%0Ais slow"
    )
    assert lines[2].endswith("::TEN005 wrap it, 100%25: now")
