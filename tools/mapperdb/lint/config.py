"""The SQL gate's settings: ``[tool.mapperdb.lint]`` in the repository's pyproject.toml.

```toml
[tool.mapperdb.lint]
directory = "sql/migrations"                   # what `mapperdb lint` lints with no PATH
pattern = "{version:4}_{slug}.{direction}.sql" # how migration files are named
select = ["LOCK", "TEN", "HYG", "SYN"]         # rule ids or prefixes (default: all)
ignore = ["TYPE002", "SQLFLUFF-LT05"]          # rule ids or prefixes left out
severity = { TYPE001 = "warning" }             # re-graded rules (error, warning or info)
style = false                                  # no sqlfluff stage
```

The repository root is the nearest directory above the linted path that holds a pyproject.toml or
a .git, else the working directory; its pyproject.toml and .sqlfluff apply whatever path is linted.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from mapperdb.errors import ConfigError
from mapperdb.findings import Finding, Severity
from mapperdb.migrate.files import DEFAULT_PATTERN, Pattern

SECTION = "[tool.mapperdb.lint]"
STYLE_PREFIX = "SQLFLUFF"
ROOT_MARKERS = ("pyproject.toml", ".git")
Grade = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class LintConfig:
    """The settings, validated by pydantic when a pyproject.toml has any (``load``).

    A plain dataclass, so that a repository without settings does not pay pydantic's import
    (a quarter of a second, more than the rules take on this repository's migrations).
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    directory: Path = Path("sql/migrations")
    pattern: str = DEFAULT_PATTERN
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: dict[str, Grade] = field(default_factory=dict)
    style: bool = True

    def __post_init__(self) -> None:
        # Rule ids are upper case; settings may spell them either way.
        object.__setattr__(self, "select", tuple(c.upper() for c in self.select))
        object.__setattr__(self, "ignore", tuple(c.upper() for c in self.ignore))
        object.__setattr__(self, "severity", {c.upper(): g for c, g in self.severity.items()})

    @property
    def naming(self) -> Pattern:
        return Pattern.parse(self.pattern)

    def unknown_codes(self, known: set[str]) -> list[str]:
        """Codes of select, ignore and severity that name no rule and no rule prefix."""
        prefixes = {code.rstrip("0123456789") for code in known} | {STYLE_PREFIX}
        named = [*self.select, *self.ignore, *self.severity]
        return [
            code
            for code in named
            if code not in known and code not in prefixes and not code.startswith("SQLFLUFF-")
        ]

    def wants(self, rule: str) -> bool:
        """Whether findings of ``rule`` are reported: selected (or no selection) and not ignored."""
        return (not self.select or _matches(rule, self.select)) and not _matches(rule, self.ignore)

    def apply(self, findings: list[Finding]) -> list[Finding]:
        """Selection and re-grading applied to the engine's findings."""
        return [
            replace(f, severity=Severity(self.severity.get(f.rule, f.severity.value)))
            for f in findings
            if self.wants(f.rule)
        ]


def _matches(rule: str, codes: tuple[str, ...]) -> bool:
    """A code names the rule itself or a prefix of it (``LOCK`` for every LOCK rule)."""
    return any(rule == code or (rule.startswith(code) and code.isalpha()) for code in codes)


def project_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` with a pyproject.toml or .git, else the cwd."""
    start = start.resolve()
    for candidate in [start, *start.parents] if start.is_dir() else start.parents:
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return Path.cwd()


def load(root: Path) -> LintConfig:
    """The settings of ``root``'s pyproject.toml (defaults when it has none); one-line errors."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return LintConfig()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    section = data.get("tool", {}).get("mapperdb", {}).get("lint")
    if section is None:
        return LintConfig()
    from pydantic import TypeAdapter, ValidationError

    where = f"{path}: {SECTION}"
    try:
        config = TypeAdapter(LintConfig).validate_python(section)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "section"
        raise ConfigError(
            f"{where} {key}: {error['msg']} (see docs/rules.md, Configuration)"
        ) from None
    try:
        config.naming  # noqa: B018 - parsing the pattern is the check
    except ConfigError as exc:
        raise ConfigError(f"{where} pattern: {exc.message}") from None
    return config
