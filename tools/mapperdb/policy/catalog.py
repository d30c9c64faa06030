"""The custom checks in ``policies/checkov/``, read without importing checkov.

checkov lives in its own virtualenv (.tools/checkov), so the docs generator, the compliance
report and the tests read each check's metadata statically: a Python check's module-level
literal constants (``ID``, ``NAME``, ``RESOURCES``, ``CONTROLS``, ``WHY``, ``FIX``) with ``ast``,
a YAML (graph) check's ``metadata`` block with a YAML parser.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from mapperdb.errors import ConfigError
from mapperdb.infra.policy import CHECKS_DIR
from mapperdb.report import RuleInfo, ToolInfo

FIXTURES_DIR = "tests/policies/fixtures"
ID_PATTERN = re.compile(r"^CKV_LM_(\d{3})$")
FILE_PATTERN = re.compile(r"^ckv_lm_(\d{3})_[a-z0-9_]+\.(py|yaml)$")
_FIELDS = ("ID", "NAME", "RESOURCES", "CONTROLS", "WHY", "FIX")


@dataclass(frozen=True)
class Check:
    id: str
    name: str
    kind: str  # "resource" (Python) or "graph" (YAML)
    resources: tuple[str, ...]
    controls: tuple[str, ...]
    why: str
    fix: str
    path: Path

    def fixture(self, root: Path, outcome: str) -> Path:
        """``tests/policies/fixtures/<ID>/<pass|fail>.tf.json``."""
        return root / FIXTURES_DIR / self.id / f"{outcome}.tf.json"


def _python_check(path: Path) -> Check:
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text("utf-8"), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in _FIELDS:
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    raise ConfigError(
                        f"{path}: {target.id} must be a literal (the docs read it without checkov)"
                    ) from None
    missing = [name for name in _FIELDS if name not in values]
    if missing:
        raise ConfigError(f"{path}: missing module constant(s) {', '.join(missing)}; see README")
    return Check(
        id=values["ID"],
        name=values["NAME"],
        kind="resource",
        resources=tuple(values["RESOURCES"]),
        controls=tuple(values["CONTROLS"]),
        why=" ".join(values["WHY"].split()),
        fix=" ".join(values["FIX"].split()),
        path=path,
    )


def _yaml_check(path: Path) -> Check:
    document = yaml.safe_load(path.read_text("utf-8")) or {}
    meta = document.get("metadata") or {}
    missing = [key for key in ("id", "name", "controls", "why", "fix") if key not in meta]
    if missing:
        raise ConfigError(f"{path}: metadata lacks {', '.join(missing)}; see README")
    definition = document.get("definition") or {}
    return Check(
        id=meta["id"],
        name=meta["name"],
        kind="graph",
        resources=tuple(sorted(set(_resource_types(definition)))),
        controls=tuple(meta["controls"]),
        why=" ".join(str(meta["why"]).split()),
        fix=" ".join(str(meta["fix"]).split()),
        path=path,
    )


def _resource_types(node: Any) -> list[str]:
    """The resource types a graph check's definition names (for the docs table)."""
    if isinstance(node, dict):
        found = [t for t in node.get("resource_types", []) if isinstance(t, str)]
        return found + [t for value in node.values() for t in _resource_types(value)]
    if isinstance(node, list):
        return [t for value in node for t in _resource_types(value)]
    return []


def load_checks(root: Path) -> list[Check]:
    """Every custom check, sorted by id; a misnamed file or a duplicate id is a ConfigError."""
    checks: list[Check] = []
    for path in sorted((root / CHECKS_DIR).iterdir()):
        if path.name.startswith(("_", ".")) or path.suffix not in (".py", ".yaml"):
            continue
        match = FILE_PATTERN.match(path.name)
        if not match:
            raise ConfigError(f"{path}: a check file is named ckv_lm_NNN_<slug>.py or .yaml")
        check = _python_check(path) if path.suffix == ".py" else _yaml_check(path)
        if check.id != f"CKV_LM_{match.group(1)}":
            raise ConfigError(f"{path}: id {check.id} does not match the file name")
        checks.append(check)
    ids = [check.id for check in checks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"duplicate check id(s) in {CHECKS_DIR}: {', '.join(duplicates)}")
    return sorted(checks, key=lambda check: check.id)


def tool_info(root: Path, version: str) -> ToolInfo:
    """``mapperdb policy`` as report.py's SARIF needs it: the custom and cross-layer rules."""
    from mapperdb.policy.crosslayer import CHECKS as CROSS_LAYER

    rules = {
        c.id: RuleInfo(c.id, c.name, c.name, f"{c.why}\n\nFix: {c.fix}") for c in load_checks(root)
    }
    rules |= {rid: RuleInfo(rid, summary, summary) for rid, summary in CROSS_LAYER.items()}
    rules["WAIVER-EXPIRED"] = RuleInfo(
        "WAIVER-EXPIRED", "waiver-expired", "A waiver in policies/waivers.toml has expired"
    )
    rules["WAIVER-UNUSED"] = RuleInfo(
        "WAIVER-UNUSED", "waiver-unused", "A waiver in policies/waivers.toml matches no failure"
    )
    return ToolInfo("mapperdb-policy (checkov)", version, None, rules)
