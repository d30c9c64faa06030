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
from functools import partial
from pathlib import Path

from mapperdb import __version__
from mapperdb.errors import ConfigError, EnvironmentProblem
from mapperdb.findings import Finding, has_errors
from mapperdb.lint import config as lint_config
from mapperdb.lint import targets as lint_targets
from mapperdb.lint.engine import Engine, MigrationSet, Stage
from mapperdb.lint.rules import registry
from mapperdb.migrate.files import display_path
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
    style: bool | None = None,
    config: lint_config.LintConfig | None = None,
) -> LintResult:
    """Lint migration directories or files; with ``changed_since``, only what changed since REF.

    Settings come from ``[tool.mapperdb.lint]`` of the repository root's pyproject.toml unless
    ``config`` is given; ``style`` overrides its ``style``. Schema context always comes from every
    migration of each file's set. Raises ConfigError (exit 2) for paths that do not exist or hold
    no migration files of the configured pattern, bad settings and unknown refs.
    """
    root = lint_config.project_root(Path(paths[0]) if paths else Path.cwd())
    settings = config if config is not None else lint_config.load(root)
    unknown = settings.unknown_codes(set(registry()))
    if unknown:
        raise ConfigError(
            f"{root / 'pyproject.toml'}: {lint_config.SECTION} names unknown rule(s) "
            f"{', '.join(unknown)}; see docs/rules.md for the ids"
        )
    if not paths:
        default = root / settings.directory
        if not default.is_dir():
            raise ConfigError(
                f"no {settings.directory} in {display_path(root) or '.'}; run from the repository "
                f"or pass a path (or set `directory` under {lint_config.SECTION})"
            )
        paths = [default]
    pattern = settings.naming
    sets = lint_targets.resolve(list(paths), pattern)
    edited: dict[Path, str] = {}
    if changed_since is not None:
        changed, _ = changes_since(changed_since, sets[0].root)
        for lset in sets:
            lset.targets = {t for t in lset.targets if changed.get(t) in {"A", "M"}}
        edited = {
            p: s
            for p, s in changed.items()
            if s in {"M", "D"} and any(lset.is_migration(p) for lset in sets)
        }
    run_style = settings.style if style is None else style
    stages: list[Stage] = []
    if run_style and (settings.wants("SQLFLUFF-") or settings.wants("STY001")):
        from mapperdb.lint.sqlfluff_stage import style_hits

        stages.append(partial(style_hits, root=root))
    engine = Engine()
    findings: list[Finding] = []
    linted: list[str] = []
    for lset in sets:
        mine = {display_path(t) for t in lset.targets}
        edits = {display_path(p): s for p, s in edited.items() if lset.is_migration(p)}
        if not mine and not edits:
            continue
        mset = MigrationSet(lset.files(), mine | set(edits), edits, pattern)
        findings.extend(engine.run(mset, stages))
        linted.extend(sorted(mine))
    return LintResult(settings.apply(sorted(set(findings))), linted)
