"""checkov's built-in checks over every synthesized stack: offline, and every failure explained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mapperdb.findings import Severity
from mapperdb.infra.policy import explained_failures, run_checkov

DOC = Path(__file__).resolve().parents[2] / "docs/infra.md"


def test_every_checkov_failure_is_explained_in_docs(stack_paths: dict[str, Path]) -> None:
    findings = run_checkov(list(stack_paths.values()), DOC)
    unexplained = [f for f in findings if f.severity is Severity.ERROR]
    assert unexplained == []
    # checkov really ran over every stack: the accepted failures show up for each of them.
    assert {f.extra["environment"] for f in findings} == set(stack_paths)
    assert all(Path(f.file) in stack_paths.values() and f.line > 0 for f in findings)


def test_a_failure_missing_from_the_docs_fails_the_gate(
    stack_paths: dict[str, Path], tmp_path: Path
) -> None:
    rows = [line for line in DOC.read_text().splitlines() if "| CKV_AZURE_112 |" not in line]
    doc = tmp_path / "infra.md"
    doc.write_text("\n".join(rows))
    findings = run_checkov([stack_paths["dev"]], doc)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    assert {f.rule for f in errors} == {"CKV_AZURE_112"}
    assert "not explained in infra.md" in errors[0].message


def test_explanations_table_is_read_by_check_and_environment() -> None:
    explained = explained_failures(DOC)
    assert ("CKV_AZURE_136", "staging") in explained
    assert ("CKV_AZURE_136", "prod") not in explained
    assert ("CKV2_AZURE_57", "all") in explained


def test_policy_command_json_uses_the_shared_shape() -> None:
    repo = DOC.parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "mapperdb", "policy", "--env", "dev", "--format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    findings = json.loads(result.stdout)["findings"]
    assert findings and all(f["severity"] == "info" for f in findings)
    assert set(findings[0]) == {"rule", "severity", "file", "line", "column", "message"}
    assert all(f["file"] == "cdktf.out/stacks/dev/cdk.tf.json" for f in findings)
