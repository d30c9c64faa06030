"""policies/waivers.toml: validated on load; applied to checkov's results by judge()."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mapperdb.errors import ConfigError
from mapperdb.findings import Severity
from mapperdb.infra.policy import Result, judge
from mapperdb.policy.waivers import Loaded, Waiver, load_waivers

ROOT = Path(__file__).resolve().parents[2]
ENVS = ["dev", "staging", "prod"]
GOOD = """
[[waiver]]
check = "CKV2_AZURE_57"
environments = ["prod"]
resources = "azurerm_postgresql_flexible_server.*"
reason = "private access, which checkov does not recognise as a private endpoint"
owner = "platform-team"
expires = 2027-01-31
"""
DAY = dt.date(2026, 12, 1)


def waiver(**changes: object) -> Loaded:
    fields: dict[str, object] = {
        "check": "CKV2_AZURE_57",
        "environments": ("prod",),
        "resources": "azurerm_postgresql_flexible_server.*",
        "reason": "private access, which checkov does not recognise",
        "owner": "platform-team",
        "expires": dt.date(2027, 1, 31),
    }
    fields.update(changes)
    return Loaded(Waiver.model_validate(fields), 3)


def failure(check: str = "CKV2_AZURE_57", env: str = "prod", passed: bool = False) -> Result:
    return Result(
        check=check,
        name="a check",
        environment=env,
        address="azurerm_postgresql_flexible_server.server_1",
        passed=passed,
        file="out/stacks/prod/cdk.tf.json",
        line=10,
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(text, "utf-8")
    return path


def test_the_repository_waivers_load() -> None:
    loaded = load_waivers(ROOT / "policies/waivers.toml", ENVS)
    assert loaded and all(item.line > 0 for item in loaded)
    assert len({(w.waiver.check, w.waiver.environments) for w in loaded}) == len(loaded)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('owner = "platform-team"\n', "", "owner"),
        ('owner = "platform-team"', 'owner = "  "', "owner"),
        (
            'reason = "private access, which checkov does not recognise as a private endpoint"',
            'reason = "ok"',
            "reason",
        ),
        (
            'reason = "private access, which checkov does not recognise as a private endpoint"\n',
            "",
            "reason",
        ),
        ("expires = 2027-01-31\n", "", "expires"),
        ('environments = ["prod"]', 'environments = ["qa"]', "unknown environment"),
        ('check = "CKV2_AZURE_57"', 'check = "whatever"', "check"),
    ],
)
def test_a_waiver_missing_or_bad_field_is_refused(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        load_waivers(write(tmp_path, GOOD.replace(old, new)), ENVS)


def test_a_matching_waiver_turns_the_failure_into_info() -> None:
    scan = judge([failure()], ["prod"], [waiver()], DAY, Path("w.toml"))
    (finding,) = scan.findings
    assert finding.severity is Severity.INFO
    assert "waived until 2027-01-31 by platform-team" in finding.message
    assert scan.results[0].waiver is not None


def test_an_expired_waiver_fails_and_stops_waiving() -> None:
    expired = waiver(expires=dt.date(2026, 11, 30))
    scan = judge([failure()], ["prod"], [expired], DAY, Path("w.toml"))
    rules = sorted((f.rule, f.severity.value) for f in scan.findings)
    assert rules == [("CKV2_AZURE_57", "error"), ("WAIVER-EXPIRED", "error")]


def test_a_waiver_that_matches_nothing_fails() -> None:
    unrelated = waiver(check="CKV_LM_001")
    scan = judge([failure()], ["prod"], [unrelated], DAY, Path("w.toml"))
    rules = sorted(f.rule for f in scan.findings if f.severity is Severity.ERROR)
    assert rules == ["CKV2_AZURE_57", "WAIVER-UNUSED"]
    unused = next(f for f in scan.findings if f.rule == "WAIVER-UNUSED")
    assert unused.line == 3 and unused.extra["environment"] == "prod"


def test_a_waiver_is_judged_only_in_the_environments_scanned() -> None:
    dev_only = waiver(environments=("dev",))
    scan = judge([failure(passed=True)], ["prod"], [dev_only], DAY, Path("w.toml"))
    assert scan.findings == []


def test_environment_and_address_pattern_must_both_match() -> None:
    other_env = judge([failure(env="staging")], ["staging"], [waiver()], DAY, Path("w.toml"))
    assert {f.rule for f in other_env.findings} == {"CKV2_AZURE_57"}
    narrow = waiver(resources="azurerm_postgresql_flexible_server.replica_*")
    scan = judge([failure()], ["prod"], [narrow], DAY, Path("w.toml"))
    assert {f.rule for f in scan.findings} == {"CKV2_AZURE_57", "WAIVER-UNUSED"}
