"""policies/compliance: every piece of evidence exists, and statuses never overstate."""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from pathlib import Path

import pytest

from mapperdb.findings import Finding, Severity
from mapperdb.infra.policy import Result, Scan, checkov_binary
from mapperdb.lint.rules import registry
from mapperdb.policy.catalog import load_checks
from mapperdb.policy.compliance import (
    Control,
    Mapped,
    evidence_checks,
    load_controls,
    named_test_exists,
    report,
    to_json,
    to_markdown,
)
from mapperdb.policy.crosslayer import CHECKS as CROSS_LAYER
from mapperdb.policy.waivers import Loaded, Waiver

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = load_controls(ROOT)
CUSTOM = {check.id: check for check in load_checks(ROOT)}


@cache
def stock_check_ids() -> frozenset[str]:
    """Every check id checkov's own Terraform checks define (read from its installed source)."""
    site = checkov_binary().resolve().parents[1] / "lib"
    ids: set[str] = set()
    for path in site.glob("python*/site-packages/checkov/terraform/checks/**/*"):
        if path.suffix in {".py", ".yaml", ".json"}:
            ids |= set(re.findall(r"\bCKV2?_AZURE_\d+\b", path.read_text("utf-8", "ignore")))
    return frozenset(ids)


def test_controls_cover_cis_postgresql_and_key_vault_and_the_platform() -> None:
    ids = {m.control.id for m in CONTROLS}
    assert {f"CIS-PG-5.2.{n}" for n in range(1, 9)} <= ids
    assert {"CIS-KV-8.5", "CIS-KV-8.6", "CIS-KV-8.7", "CIS-KV-8.8"} <= ids
    assert {"LM-TENANT-ISOLATION", "LM-AUDIT-INTEGRITY", "LM-MIGRATION-SAFETY"} <= ids


@pytest.mark.parametrize("mapped", CONTROLS, ids=[m.control.id for m in CONTROLS])
def test_every_piece_of_evidence_exists(mapped: Mapped) -> None:
    control = mapped.control
    for check in control.checks:
        if check.startswith("CKV_LM_"):
            assert check in CUSTOM, f"{check}: no such file in policies/checkov"
        elif check.startswith("LMX"):
            assert check in CROSS_LAYER, check
        else:
            assert check in stock_check_ids(), f"{check}: not a checkov Terraform check"
    unknown_rules = set(control.sql_rules) - set(registry())
    assert not unknown_rules, f"not mapperdb lint rules: {unknown_rules}"
    missing_tests = [t for t in control.tests if not named_test_exists(ROOT, t)]
    assert not missing_tests, f"no such tests: {missing_tests}"


def test_every_control_a_check_serves_exists_and_gathers_it() -> None:
    by_id = {m.control.id: m.control for m in CONTROLS}
    serving = {check.id: check.controls for check in CUSTOM.values()}
    for check in CUSTOM.values():
        for control in check.controls:
            assert control in by_id, f"{check.id} serves unknown control {control}"
            assert check.id in evidence_checks(by_id[control], serving)


def _result(check: str, passed: bool, waiver: Loaded | None = None) -> Result:
    return Result(check, "n", "prod", "azurerm_x.y", passed, "f", 1, waiver)


def _control(**evidence: tuple[str, ...]) -> Mapped:
    return Mapped("F", Control(id="C-1", title="a control", **evidence), Path("x.toml"))


def status(scan: Scan, mapped: Mapped, lint: list[Finding] | None = None) -> str:
    return report([mapped], scan, lint or [])["prod"][0].status


def test_no_evidence_or_no_result_is_not_covered_never_pass() -> None:
    scan = Scan(["prod"], [_result("CKV_LM_001", True)])
    assert status(scan, _control()) == "not covered"
    assert status(scan, _control(checks=("CKV_LM_002",))) == "not covered"
    assert status(scan, _control(tests=("tests/x.py::test_y",))) == "not covered"


def test_status_is_fail_over_waived_over_pass() -> None:
    waiver = Loaded(
        Waiver(
            check="CKV_LM_002",
            environments=("prod",),
            resources="*",
            reason="accepted for a reason long enough",
            owner="team",
            expires=dt.date(2030, 1, 1),
        ),
        1,
    )
    scan = Scan(
        ["prod"],
        [_result("CKV_LM_001", True), _result("CKV_LM_002", False, waiver)],
    )
    assert status(scan, _control(checks=("CKV_LM_001",))) == "pass"
    waived = report([_control(checks=("CKV_LM_001", "CKV_LM_002"))], scan, [])["prod"][0]
    assert waived.status == "waived"
    assert "2030-01-01" in waived.evidence[1].detail[0]
    assert "accepted for a reason" in to_markdown({"prod": [waived]})
    scan.results.append(_result("CKV_LM_003", False))
    assert status(scan, _control(checks=("CKV_LM_001", "CKV_LM_003"))) == "fail"
    lint = [Finding("m.sql", 1, 1, "TEN001", Severity.ERROR, "x")]
    assert status(scan, _control(sql_rules=("TEN001",)), lint) == "fail"
    assert status(scan, _control(sql_rules=("TEN002",)), lint) == "pass"
    lmx = Finding("s", 1, 0, "LMX004", Severity.ERROR, "x", {"environment": "prod"})
    scan.findings.append(lmx)
    assert status(scan, _control(checks=("LMX004",))) == "fail"
    data = json.loads(to_json({"prod": [waived]}))["environments"]["prod"]
    assert data["summary"] == {"pass": 0, "fail": 0, "waived": 1, "not covered": 0}
    assert data["controls"][0]["evidence"][1]["status"] == "waived"
