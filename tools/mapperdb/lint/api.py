"""The SQL gate as a Python API, for ``mapperdb check`` and for tests.

from mapperdb.lint.api import lint
result = lint([Path("sql/migrations")], changed_since="origin/main")
result.findings    # list[mapperdb.findings.Finding]
result.exit_code   # 1 if any error-severity finding, else 0
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mapperdb import __version__
from mapperdb.errors import ConfigError, EnvironmentProblem
from mapperdb.findings import Finding, has_errors
from mapperdb.lint import files
from mapperdb.lint.engine import Engine, MigrationSet, Stage
from mapperdb.lint.rules import registry
from mapperdb.report import RuleInfo, ToolInfo

TOOL_NAME = "mapperdb-lint"
RULES_DOC = "docs/rules.md"


@dataclass
class LintResult:
    findings: list[Finding]
    files: list[str] = field(default_factory=list)  # the files linted, as displayed

    @property
    def exit_code(self) -> int:
        return 1 if has_errors(self.findings) else 0


def tool_info() -> ToolInfo:
    """The gate and its rules as report.py needs them for SARIF."""
    rules = {
        rule.id: RuleInfo(
            rule.id,
            rule.name,
            rule.summary,
            f"{rule.why}\n\nInstead: {rule.instead}",
            rule.severity,
        )
        for rule in registry().values()
    }
    return ToolInfo(TOOL_NAME, __version__, None, rules)


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem("git is not installed; --changed-since needs it") from exc
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1:] or ["git failed"]
        raise ConfigError(f"git {' '.join(args)}: {message[0]}")
    return done.stdout


def changes_since(ref: str, where: Path) -> tuple[dict[Path, str], Path]:
    """{absolute path: git status letter} of files changed since the merge base with ``ref``."""
    top = Path(_git(where, "rev-parse", "--show-toplevel").strip())
    try:
        base = _git(top, "merge-base", ref, "HEAD").strip()
    except ConfigError as exc:
        raise ConfigError(f"--changed-since {ref}: not a commit this repository knows") from exc
    changed: dict[Path, str] = {}
    for line in _git(top, "diff", "--name-status", "--no-renames", base, "--").splitlines():
        status, _, name = line.partition("\t")
        changed[top / name] = status[:1]
    for name in _git(top, "ls-files", "--others", "--exclude-standard").splitlines():
        changed[top / name] = "A"
    return changed, top


def lint(
    paths: Sequence[Path] | None = None,
    changed_since: str | None = None,
    *,
    style: bool = True,
) -> LintResult:
    """Lint migration directories or files; with ``changed_since``, only what changed since REF.

    Schema context always comes from every migration of each file's directory. Raises
    ConfigError (exit 2) for paths that do not exist and unknown refs.
    """
    if not paths:
        if not files.DEFAULT_DIR.is_dir():
            raise ConfigError(
                f"no {files.DEFAULT_DIR} here; run from the repository root or pass a path"
            )
        paths = [files.DEFAULT_DIR]
    directories, targets = files.resolve_targets(list(paths))
    edited: dict[Path, str] = {}
    if changed_since is not None:
        changed, _ = changes_since(changed_since, directories[0] if directories else Path.cwd())
        targets = [t for t in targets if changed.get(t) in {"A", "M"}]
        edited = {
            p: s
            for p, s in changed.items()
            if s in {"M", "D"} and p.parent in directories and files.NAME.match(p.name)
        }
    stages: list[Stage] = []
    if style:
        from mapperdb.lint.sqlfluff_stage import style_hits

        stages.append(style_hits)
    engine = Engine()
    findings: list[Finding] = []
    linted: list[str] = []
    for directory in directories:
        mine = {t for t in targets if t.parent == directory}
        mset_files = files.migration_set(directory)
        known = {f.path for f in mset_files}
        mset_files += [files.read(t) for t in sorted(mine - known)]
        displays = {f.display for f in mset_files if f.path in mine}
        edits = {files.display_path(p): s for p, s in edited.items() if p.parent == directory}
        if not displays and not edits:
            continue
        mset = MigrationSet(mset_files, displays | set(edits), edits)
        findings.extend(engine.run(mset, stages))
        linted.extend(sorted(displays))
    return LintResult(sorted(set(findings)), linted)
