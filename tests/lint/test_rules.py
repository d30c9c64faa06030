"""Every rule fires on its own bad example and stays quiet on its good one."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapperdb.lint.rule import Rule
from mapperdb.lint.rules import registry
from tests.lint.conftest import lint_example

RULES = list(registry().values())
# Only the style rule needs sqlfluff; the others run without it to keep the suite fast.
STYLE_RULES = {"STY001"}


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_is_documented(rule: Rule) -> None:
    assert rule.id.startswith(rule.prefix) and rule.id[len(rule.prefix) :].isdigit()
    for text in (rule.name, rule.summary, rule.why, rule.instead):
        assert text.strip(), f"{rule.id} lacks documentation"
    assert rule.bad.migration_files() and rule.good.migration_files()
    assert rule.bad != rule.good


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_bad_example_fires(rule: Rule, in_tmp: Path) -> None:
    result = lint_example(in_tmp, rule.bad, style=rule.id in STYLE_RULES)
    fired = [f for f in result.findings if f.rule == rule.id]
    assert fired, f"{rule.id} did not fire on its bad example: {result.findings}"
    assert all(f.severity is rule.severity for f in fired)


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_good_example_is_quiet(rule: Rule, in_tmp: Path) -> None:
    result = lint_example(in_tmp, rule.good, style=rule.id in STYLE_RULES)
    fired = [f for f in result.findings if f.rule == rule.id]
    assert not fired, f"{rule.id} fired on its good example: {fired}"
