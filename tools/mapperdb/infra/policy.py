"""Run checkov's built-in checks over synthesized stacks, offline, as :class:`Finding` objects.

A failure explained in docs/infra.md (the table under "checkov findings", by check id and
environment) is reported as info; any other failure is an error that fails the gate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from mapperdb.errors import EnvironmentProblem
from mapperdb.findings import Finding, Severity
from mapperdb.infra.synth import repo_root
from mapperdb.policy.catalog import CHECKS_DIR

CHECKOV_TIMEOUT_S = 600
EXPLANATIONS_DOC = "docs/infra.md"
# A row of the explanations table: | CKV_AZURE_112 | dev, staging | why |
_ROW = re.compile(r"^\|\s*(CKV2?_[A-Z0-9_]+)\s*\|\s*([^|]+?)\s*\|\s*(.+?)\s*\|\s*$")
ALL_ENVS = "all"


def checkov_binary() -> Path:
    """``MAPPERDB_CHECKOV``, else the isolated install bin/setup makes, else checkov on PATH."""
    candidates = [os.environ.get("MAPPERDB_CHECKOV"), ".tools/checkov/bin/checkov"]
    for candidate in candidates:
        if candidate:
            path = Path(candidate)
            path = path if path.is_absolute() else repo_root() / path
            if path.is_file():
                return path
    found = shutil.which("checkov")
    if found:
        return Path(found)
    raise EnvironmentProblem(
        "checkov not found; run ./bin/setup (installs it into .tools/checkov, isolated from the "
        "project venv) or set MAPPERDB_CHECKOV"
    )


def explained_failures(doc: Path) -> dict[tuple[str, str], str]:
    """(check id, environment or "all") -> the reason docs/infra.md gives for accepting it."""
    explained: dict[tuple[str, str], str] = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            check, envs, reason = match.groups()
            for env in (e.strip() for e in envs.split(",")):
                explained[(check, env)] = reason
    return explained


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    # No Prisma Cloud mapping download (BC_SKIP_MAPPING) and no PyPI update check at import
    # (CKV_SKIP_PACKAGE_UPDATE_CHECK; --skip-download covers guidelines): the gate runs offline.
    env.update({"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"})
    return env


def checkov_reports(
    paths: list[Path], checks: list[str] | None = None, *, quiet: bool = True
) -> list[dict[str, Any]]:
    """checkov's JSON reports over ``paths``, with the custom checks of policies/checkov loaded.

    ``checks`` limits the run to those ids (``--check``); ``quiet=False`` keeps passed checks.
    """
    command = [str(checkov_binary()), "--framework", "terraform_json", "--skip-download"]
    command += ["--compact", "--output", "json"] + (["--quiet"] if quiet else [])
    command += ["--external-checks-dir", str(repo_root() / CHECKS_DIR)]
    if checks:
        command += ["--check", ",".join(checks)]
    for path in paths:
        command += ["--file", str(path)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=_offline_env(),
            timeout=CHECKOV_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(
            f"checkov ran longer than {CHECKOV_TIMEOUT_S} s; run it by hand to see where it waits"
        ) from None
    # checkov exits 1 when a check fails; anything else, or no JSON, means it did not run.
    if done.returncode not in (0, 1) or not done.stdout.strip().startswith(("{", "[")):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EnvironmentProblem(f"checkov failed (exit {done.returncode}): {tail[0]}")
    data = json.loads(done.stdout)
    return data if isinstance(data, list) else [data]


def run_checkov(paths: list[Path], explanations: Path | None = None) -> list[Finding]:
    """checkov's failed checks over ``paths`` (``.../stacks/<env>/cdk.tf.json``) as findings."""
    doc = explanations or repo_root() / EXPLANATIONS_DOC
    explained = explained_failures(doc)
    by_abs = {str(path.resolve()): path for path in paths}
    findings = []
    for report in checkov_reports(paths):
        for failed in report.get("results", {}).get("failed_checks", []):
            path = by_abs.get(str(Path(failed["file_abs_path"]).resolve()))
            env = path.parent.name if path else "unknown"
            check = failed["check_id"]
            reason = explained.get((check, env)) or explained.get((check, ALL_ENVS))
            findings.append(
                Finding(
                    file=str(path or failed["file_abs_path"]),
                    line=int(failed["file_line_range"][0]),
                    column=0,
                    rule=check,
                    severity=Severity.INFO if reason else Severity.ERROR,
                    message=f"{failed['check_name']} ({failed['resource']})"
                    + (f"; accepted: {reason}" if reason else f"; not explained in {doc.name}"),
                    extra={"environment": env, "resource": failed["resource"]},
                )
            )
    return findings
