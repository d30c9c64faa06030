"""Every custom check in policies/checkov fails its fail fixture and passes its pass fixture.

One checkov run covers every check and every fixture (checkov costs seconds per start); each
check's test then reads its own results. Adding a check needs no edit here: it is discovered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mapperdb.infra.policy import checkov_reports
from mapperdb.policy.catalog import Check, load_checks
from mapperdb.policy.docs import render

ROOT = Path(__file__).resolve().parents[2]
CHECKS = load_checks(ROOT)

Outcomes = dict[tuple[str, str], dict[str, list[str]]]


@pytest.fixture(scope="session")
def outcomes() -> Outcomes:
    """(check id, fixture file) -> {"passed": [resource name, ...], "failed": [...]}."""
    fixtures = [c.fixture(ROOT, o) for c in CHECKS for o in ("pass", "fail")]
    missing = [str(path.relative_to(ROOT)) for path in fixtures if not path.is_file()]
    assert not missing, f"every check needs pass and fail fixtures; missing: {missing}"
    reports = checkov_reports(fixtures, [c.id for c in CHECKS], quiet=False)
    found: Outcomes = {}
    for report in reports:
        results: dict[str, list[dict[str, Any]]] = report.get("results", {})
        for key in ("passed", "failed"):
            for result in results.get(f"{key}_checks", []):
                file = str(Path(result["file_abs_path"]).resolve())
                slot = found.setdefault((result["check_id"], file), {"passed": [], "failed": []})
                # Python checks report "resource.<name>", graph checks "<type>.<name>".
                slot[key].append(result["resource"].rsplit(".", 1)[-1])
    return found


def test_the_catalog_is_not_empty_and_ids_are_in_range() -> None:
    assert CHECKS
    assert all(1 <= int(c.id.removeprefix("CKV_LM_")) <= 199 for c in CHECKS)


@pytest.mark.parametrize("check", CHECKS, ids=[c.id for c in CHECKS])
def test_check_fails_its_fail_fixture_and_passes_its_pass_fixture(
    check: Check, outcomes: Outcomes
) -> None:
    empty: dict[str, list[str]] = {"passed": [], "failed": []}
    passing = outcomes.get((check.id, str(check.fixture(ROOT, "pass").resolve())), empty)
    failing = outcomes.get((check.id, str(check.fixture(ROOT, "fail").resolve())), empty)
    assert passing["passed"] and not passing["failed"], f"pass fixture: {passing}"
    # Every resource of the check's types named fail_* in the fail fixture must fail.
    fixture = json.loads(check.fixture(ROOT, "fail").read_text("utf-8"))["resource"]
    meant = {n for t in check.resources for n in fixture.get(t, {}) if n.startswith("fail_")}
    assert meant, "name the failing resources of the fail fixture fail_*"
    assert meant <= set(failing["failed"]), f"meant to fail: {sorted(meant)}; got {failing}"


@pytest.mark.parametrize("check", CHECKS, ids=[c.id for c in CHECKS])
def test_check_metadata_is_complete(check: Check) -> None:
    assert check.name and check.why and check.fix and check.controls and check.resources


def test_docs_policies_md_is_generated_from_policies() -> None:
    committed = (ROOT / "docs/policies.md").read_text("utf-8")
    assert committed == render(ROOT), (
        "docs/policies.md is stale: run `.venv/bin/python -m mapperdb.policy.docs --write`"
    )
