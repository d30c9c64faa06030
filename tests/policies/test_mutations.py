"""Acceptance: in a copy of prod's synthesized output, changing any one property a check covers
makes ``mapperdb policy --from COPY --env prod`` fail with a finding naming the check and the
resource address; the unmodified copy passes.

checkov costs ~10 s of CPU per start, so every mutated copy is scanned in ONE run through
:func:`mapperdb.infra.policy.scan_stacks` (what the command calls, after finding the stack), and
the command itself runs twice: on the unmodified copy and on one mutated copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mapperdb.findings import Severity
from mapperdb.infra.policy import Scan, scan_stacks

ROOT = Path(__file__).resolve().parents[2]
STACK = Path("stacks/prod/cdk.tf.json")
SERVER = "azurerm_postgresql_flexible_server"
CONFIG = "azurerm_postgresql_flexible_server_configuration"

Stack = dict[str, Any]


def res(stack: Stack, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = stack["resource"][kind]
    return found


def primary(stack: Stack) -> str:
    (name,) = [n for n, s in res(stack, SERVER).items() if "create_mode" not in s]
    return name


def replica(stack: Stack) -> str:
    return sorted(n for n, s in res(stack, SERVER).items() if "create_mode" in s)[0]


def config(stack: Stack, parameter: str) -> str:
    server = f"${{{SERVER}.{primary(stack)}.id}}"
    (name,) = [
        n
        for n, c in res(stack, CONFIG).items()
        if c["name"] == parameter and c["server_id"] == server
    ]
    return name


def public_network(stack: Stack) -> str:
    name = primary(stack)
    res(stack, SERVER)[name]["public_network_access_enabled"] = True
    return f"{SERVER}.{name}"


def tls_version(stack: Stack) -> str:
    name = config(stack, "ssl_min_protocol_version")
    res(stack, CONFIG)[name]["value"] = "TLSv1.1"
    return f"{CONFIG}.{name}"


def secure_transport(stack: Stack) -> str:
    name = config(stack, "require_secure_transport")
    res(stack, CONFIG)[name]["value"] = "off"
    return f"{CONFIG}.{name}"


def firewall_range(stack: Stack) -> str:
    rules = stack["resource"].setdefault(f"{SERVER}_firewall_rule", {})
    rules["everyone"] = {
        "name": "everyone",
        "server_id": f"${{{SERVER}.{primary(stack)}.id}}",
        "start_ip_address": "0.0.0.0",  # noqa: S104
        "end_ip_address": "255.255.255.255",
    }
    return f"{SERVER}_firewall_rule.everyone"


def nsg_source(stack: Stack) -> str:
    kind = "azurerm_network_security_group"
    name = sorted(res(stack, kind))[0]
    rule = next(r for r in res(stack, kind)[name]["security_rule"] if r["access"] == "Allow")
    rule["source_address_prefix"] = "*"
    return f"{kind}.{name}"


def purge_protection(stack: Stack) -> str:
    name = sorted(res(stack, "azurerm_key_vault"))[0]
    res(stack, "azurerm_key_vault")[name]["purge_protection_enabled"] = False
    return f"azurerm_key_vault.{name}"


def vault_network_default(stack: Stack) -> str:
    name = sorted(res(stack, "azurerm_key_vault"))[0]
    res(stack, "azurerm_key_vault")[name]["network_acls"]["default_action"] = "Allow"
    return f"azurerm_key_vault.{name}"


def cmk(stack: Stack) -> str:
    name = primary(stack)
    del res(stack, SERVER)[name]["customer_managed_key"]
    return f"{SERVER}.{name}"


def geo_backup(stack: Stack) -> str:
    name = primary(stack)
    res(stack, SERVER)[name]["geo_redundant_backup_enabled"] = False
    return f"{SERVER}.{name}"


def high_availability(stack: Stack) -> str:
    name = primary(stack)
    del res(stack, SERVER)[name]["high_availability"]
    return f"{SERVER}.{name}"


def diagnostic_setting(stack: Stack) -> str:
    name = replica(stack)
    settings = res(stack, "azurerm_monitor_diagnostic_setting")
    target = f"${{{SERVER}.{name}.id}}"
    (setting,) = [k for k, v in settings.items() if v["target_resource_id"] == target]
    del settings[setting]
    return f"{SERVER}.{name}"


def alert(stack: Stack) -> str:
    name = primary(stack)
    alerts = res(stack, "azurerm_monitor_metric_alert")
    scope = f"${{{SERVER}.{name}.id}}"
    (cpu,) = [
        k
        for k, v in alerts.items()
        if v["scopes"] == [scope] and v["criteria"][0]["metric_name"] == "cpu_percent"
    ]
    del alerts[cpu]
    return f"{SERVER}.{name}"


def tag(stack: Stack) -> str:
    name = sorted(res(stack, "azurerm_key_vault"))[0]
    del res(stack, "azurerm_key_vault")[name]["tags"]["owner"]
    return f"azurerm_key_vault.{name}"


def key_rotation(stack: Stack) -> str:
    keys = res(stack, "azurerm_key_vault_key")
    name = next(k for k, v in sorted(keys.items()) if v["name"] == "postgres-key")
    del keys[name]["rotation_policy"]
    return f"azurerm_key_vault_key.{name}"


def password_auth(stack: Stack) -> str:
    name = primary(stack)
    res(stack, SERVER)[name]["authentication"]["password_auth_enabled"] = True
    return f"{SERVER}.{name}"


# mutation -> (the change, the checks that must name the changed resource)
MUTATIONS: dict[str, tuple[Callable[[Stack], str], set[str]]] = {
    "public-network-access": (public_network, {"CKV_LM_001"}),
    "tls-min-version": (tls_version, {"CKV_LM_005"}),
    "require-secure-transport": (secure_transport, {"CKV_LM_004"}),
    "firewall-range": (firewall_range, {"CKV_LM_002"}),
    "nsg-source-range": (nsg_source, {"CKV_LM_003"}),
    "vault-purge-protection": (purge_protection, {"CKV_LM_009"}),
    "vault-network-default": (vault_network_default, {"CKV_LM_010"}),
    "cmk": (cmk, {"CKV_LM_014"}),
    "geo-backup": (geo_backup, {"CKV_AZURE_136"}),
    "high-availability": (high_availability, {"CKV_LM_015"}),
    "diagnostic-setting": (diagnostic_setting, {"CKV_LM_030"}),
    "alert": (alert, {"CKV_LM_021"}),
    "tag": (tag, {"CKV_LM_018"}),
    "key-rotation": (key_rotation, {"CKV_LM_012", "CKV_LM_031"}),
    "password-auth": (password_auth, {"CKV_LM_022"}),
}


def copy_of(prod_out: Path, where: Path, change: Callable[[Stack], str] | None) -> tuple[Path, str]:
    shutil.copytree(prod_out, where)
    path = where / STACK
    if change is None:
        return where, ""
    stack = json.loads(path.read_text("utf-8"))
    address = change(stack)
    path.write_text(json.dumps(stack, indent=2), "utf-8")
    return where, address


@pytest.fixture(scope="module")
def mutated(prod_out: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("mutations")
    return {
        name: copy_of(prod_out, base / name, change)[0]
        for name, (change, _) in [("unmodified", (None, set())), *MUTATIONS.items()]
    }


@pytest.fixture(scope="module")
def batch(mutated: dict[str, Path]) -> Scan:
    """One checkov run over the unmodified copy and every mutated one."""
    return scan_stacks([("prod", directory / STACK) for directory in mutated.values()], root=ROOT)


def errors_in(scan: Scan, directory: Path) -> list[tuple[str, str]]:
    stack = (directory / STACK).resolve()
    return [
        (f.rule, str(f.extra.get("resource")))
        for f in scan.findings
        if f.severity is Severity.ERROR and Path(f.file).resolve() == stack
    ]


def test_the_unmodified_copy_has_no_error(batch: Scan, mutated: dict[str, Path]) -> None:
    assert errors_in(batch, mutated["unmodified"]) == []
    assert any(r.check.startswith("CKV_LM_") and r.passed for r in batch.results)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_one_changed_property_fails_naming_check_and_resource(
    mutation: str, batch: Scan, mutated: dict[str, Path]
) -> None:
    change, checks = MUTATIONS[mutation]
    stack = json.loads((mutated["unmodified"] / STACK).read_text("utf-8"))
    address = change(stack)  # the same change on a fresh copy, for its address
    errors = errors_in(batch, mutated[mutation])
    assert {(check, address) for check in checks} <= set(errors), errors


def run_policy(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapperdb", "policy", "--from", str(directory), "--env", "prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_command_passes_the_unmodified_copy(mutated: dict[str, Path]) -> None:
    done = run_policy(mutated["unmodified"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 error(s)" in done.stderr


def test_the_command_fails_a_changed_copy_naming_check_and_resource(
    mutated: dict[str, Path],
) -> None:
    stack = json.loads((mutated["unmodified"] / STACK).read_text("utf-8"))
    address = public_network(stack)
    done = run_policy(mutated["public-network-access"])
    assert done.returncode == 1, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if " CKV_LM_001 " in line]
    assert len(lines) == 1 and address in lines[0], done.stdout[-3000:]
    assert lines[0].startswith(f"{mutated['public-network-access'] / STACK}:")
