"""``policies/waivers.toml``: checkov failures accepted for a while, each owned and expiring.

A waiver names a check, the environments and a resource address pattern (``fnmatch``, e.g.
``azurerm_key_vault_key.*``), why it is accepted, who owns it and when it expires. A waiver
missing a field, with an empty reason or owner, or naming an unknown environment is a
:class:`ConfigError` (exit 2); an expired waiver or one that matches no failure is an error
finding, so the gate fails either way.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mapperdb.errors import ConfigError

ALL_ENVIRONMENTS = "*"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    check: Annotated[str, Field(pattern=r"^CKV2?_[A-Z0-9_]+$")]
    environments: tuple[Text, ...] = Field(min_length=1)
    resources: Text
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20)]
    owner: Text
    expires: dt.date

    def applies_to(self, environment: str) -> bool:
        return ALL_ENVIRONMENTS in self.environments or environment in self.environments

    def matches(self, check: str, environment: str, address: str) -> bool:
        return (
            check == self.check
            and self.applies_to(environment)
            and fnmatch.fnmatchcase(address, self.resources)
        )


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waiver: list[Waiver] = Field(default_factory=list)


@dataclass(frozen=True)
class Loaded:
    waiver: Waiver
    line: int  # of its ``[[waiver]]`` header, for findings


def load_waivers(path: Path, environments: list[str] | None = None) -> list[Loaded]:
    """Every waiver of ``path`` with its line; ``environments`` (known names) are enforced."""
    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found; create it (an empty file means no waivers)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = WaiverFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(
            f"{path}: {where}: {error['msg']}; every waiver needs check, environments, "
            "resources, reason (a sentence), owner and expires"
        ) from None
    lines = [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[waiver]]", line)]
    loaded = [Loaded(w, lines[i] if i < len(lines) else 1) for i, w in enumerate(parsed.waiver)]
    if environments is not None:
        known = set(environments) | {ALL_ENVIRONMENTS}
        for item in loaded:
            unknown = sorted(set(item.waiver.environments) - known)
            if unknown:
                raise ConfigError(
                    f"{path}:{item.line}: waiver for {item.waiver.check} names unknown "
                    f"environment(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
                )
    return loaded


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
