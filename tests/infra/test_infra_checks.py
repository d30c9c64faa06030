"""The infra checks (policies/checkov, CKV_LM_100-199): each fails its fail fixture and passes its
pass fixture, in one real checkov run; and each passes on the prod stack as synthesized.

(The policy branch's tests/policies/test_checks.py runs every check the same way; this file
keeps the infra checks proven on their own branch.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mapperdb.infra.policy import checkov_binary

ROOT = Path(__file__).resolve().parents[2]
CHECKS_DIR = ROOT / "policies/checkov"
FIXTURES = ROOT / "tests/policies/fixtures"
IDS = sorted(
    f"CKV_LM_{m.group(1)}"
    for path in CHECKS_DIR.glob("ckv_lm_1*.py")
    if (m := re.match(r"ckv_lm_(1\d\d)_", path.name))
)
# Failures on the synthesized stacks that are accepted (waivers, policies/waivers.toml).
WAIVED = {("CKV_LM_103", "dev"), ("CKV_LM_103", "staging"), ("CKV_LM_105", "dev")}
WAIVED |= {("CKV_LM_105", "staging")}

Results = dict[tuple[str, str], dict[str, list[str]]]


def run(files: list[Path]) -> Results:
    command = [str(checkov_binary()), "--framework", "terraform_json", "--skip-download"]
    command += ["--compact", "--output", "json", "--external-checks-dir", str(CHECKS_DIR)]
    command += ["--check", ",".join(IDS)]
    for file in files:
        command += ["--file", str(file)]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE")
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    data: Any = json.loads(done.stdout)
    found: Results = {}
    for report in data if isinstance(data, list) else [data]:
        assert report["summary"]["parsing_errors"] == 0
        for key in ("passed", "failed"):
            for result in report["results"].get(f"{key}_checks", []):
                file = str(Path(result["file_abs_path"]).resolve())
                slot = found.setdefault((result["check_id"], file), {"passed": [], "failed": []})
                slot[key].append(result["resource"])
    return found


@pytest.fixture(scope="module")
def fixture_results() -> Results:
    files = [FIXTURES / cid / f"{kind}.tf.json" for cid in IDS for kind in ("pass", "fail")]
    missing = [str(f) for f in files if not f.is_file()]
    assert not missing, missing
    return run(files)


def test_the_infra_checks_exist() -> None:
    assert len(IDS) >= 7


@pytest.mark.parametrize("check_id", IDS)
def test_check_fails_its_fail_fixture_and_passes_its_pass_fixture(
    check_id: str, fixture_results: Results
) -> None:
    empty: dict[str, list[str]] = {"passed": [], "failed": []}
    passing = fixture_results.get((check_id, str(FIXTURES / check_id / "pass.tf.json")), empty)
    failing = fixture_results.get((check_id, str(FIXTURES / check_id / "fail.tf.json")), empty)
    assert passing["passed"] and not passing["failed"], passing
    assert failing["failed"], failing


def test_the_synthesized_stacks_pass_every_infra_check_but_the_waived(
    stack_paths: dict[str, Path],
) -> None:
    results = run(list(stack_paths.values()))
    envs = {str(path.resolve()): env for env, path in stack_paths.items()}
    failed = {
        (check_id, envs[file], resource)
        for (check_id, file), slots in results.items()
        for resource in slots["failed"]
    }
    unwaived = {f for f in failed if (f[0], f[1]) not in WAIVED}
    assert unwaived == set()
    checked = {(check_id, envs[file]) for check_id, file in results}
    assert {("CKV_LM_100", "prod"), ("CKV_LM_104", "prod"), ("CKV_LM_105", "prod")} <= checked
