"""The rule registry: every module in this package defines one rule as ``RULE``.

Rules are discovered, not listed, so a new rule module is picked up by the engine, the docs and
the tests (which fail until it has a bad and a good example that behave).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from mapperdb.lint.rule import Rule


@cache
def registry() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = module.RULE
        assert isinstance(rule, Rule), info.name
        assert rule.id not in rules, f"duplicate rule id {rule.id}"
        rules[rule.id] = rule
    return dict(sorted(rules.items()))
