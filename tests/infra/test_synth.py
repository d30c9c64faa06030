"""Assertions on the synthesized Terraform JSON of every environment."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mapper_infra.config import Environment
from mapperdb import platform
from mapperdb.platform.skus import find_sku

from .tfjson import ref, resources

ENVS = ("dev", "staging", "prod")
TAG_KEYS = {"environment", "owner", "cost-center", "data-classification"}


def servers(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(stack, "postgresql_flexible_server")


def primary(stack: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    found = [(k, v) for k, v in servers(stack).items() if "create_mode" not in v]
    assert len(found) == 1
    return found[0]


def replicas(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in servers(stack).items() if v.get("create_mode") == "Replica"}


def walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (dotted path, leaf value) of a JSON document."""
    if isinstance(node, dict):
        return [item for key, value in node.items() for item in walk(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [item for i, value in enumerate(node) for item in walk(value, f"{path}[{i}]")]
    return [(path, node)]


def test_one_stack_per_environment_with_its_own_state(
    stacks: dict[str, dict[str, Any]], environments: dict[str, Environment]
) -> None:
    assert set(stacks) == set(ENVS)
    for name, stack in stacks.items():
        backend = stack["terraform"]["backend"]["azurerm"]
        assert backend["key"] == environments[name].backend.key
        assert backend["use_azuread_auth"] is True
    assert len({s["terraform"]["backend"]["azurerm"]["key"] for s in stacks.values()}) == len(ENVS)


@pytest.mark.parametrize("env", ENVS)
def test_server_properties_follow_the_environment_file(
    env: str, stacks: dict[str, dict[str, Any]], environments: dict[str, Environment]
) -> None:
    spec = environments[env].server
    _, server = primary(stacks[env])
    assert server["version"] == "17"
    assert server["sku_name"] == spec.sku
    assert server["storage_mb"] == spec.storage_mb
    assert server["storage_tier"] == spec.storage_tier
    assert server["auto_grow_enabled"] is spec.auto_grow
    assert server["backup_retention_days"] == spec.backup_retention_days
    assert server["geo_redundant_backup_enabled"] is spec.geo_redundant_backup
    assert server["zone"] == spec.zone
    assert server["maintenance_window"] == spec.maintenance_window.model_dump()
    auth = server["authentication"]
    assert auth["active_directory_auth_enabled"] is True
    assert auth["password_auth_enabled"] is spec.password_auth
    admins = resources(stacks[env], "postgresql_flexible_server_active_directory_administrator")
    assert [a["principal_type"] for a in admins.values()] == ["Group"]
    assert [a["object_id"] for a in admins.values()] == [spec.entra_admin.object_id]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_zone_redundant_with_geo_backup_keys_in_the_paired_region(
    env: str, stacks: dict[str, dict[str, Any]]
) -> None:
    """Staging has prod's shape here: a geo-backup failure must not show up first in prod."""
    _, server = primary(stacks[env])
    assert server["high_availability"] == {
        "mode": "ZoneRedundant",
        "standby_availability_zone": "2",
    }
    cmk = server["customer_managed_key"]
    assert "keys-paired" in cmk["geo_backup_key_vault_key_id"]
    assert "keys-paired" in cmk["geo_backup_user_assigned_identity_id"]
    paired_vaults = [
        v for k, v in resources(stacks[env], "key_vault").items() if k.startswith("keys-paired")
    ]
    assert [v["location"] for v in paired_vaults] == ["northeurope"]


def test_dev_has_no_high_availability_and_no_geo_backup(stacks: dict[str, dict[str, Any]]) -> None:
    _, other = primary(stacks["dev"])
    assert "high_availability" not in other
    assert "geo_backup_key_vault_key_id" not in other["customer_managed_key"]


def test_password_only_where_allowed_and_only_write_only(
    stacks: dict[str, dict[str, Any]],
) -> None:
    _, prod = primary(stacks["prod"])
    assert not any(k.startswith("administrator_") for k in prod)
    _, dev = primary(stacks["dev"])
    assert dev["administrator_password_wo"] == "${var.admin_password}"
    assert "administrator_password" not in dev
    variable = stacks["dev"]["variable"]["admin_password"]
    assert variable["sensitive"] is True
    assert variable["ephemeral"] is True
    assert "default" not in variable


@pytest.mark.parametrize(("env", "count"), [("dev", 0), ("staging", 2), ("prod", 2)])
def test_replicas_and_virtual_endpoint(
    env: str, count: int, stacks: dict[str, dict[str, Any]]
) -> None:
    stack = stacks[env]
    primary_name, server = primary(stack)
    found = replicas(stack)
    assert len(found) == count
    for replica in found.values():
        assert replica["source_server_id"] == ref("postgresql_flexible_server", primary_name)
        assert find_sku(replica["sku_name"]).vcores >= find_sku(server["sku_name"]).vcores
        assert replica["storage_mb"] == server["storage_mb"]
        # CMK on a replica: its own region's key, through an identity it holds.
        cmk = replica["customer_managed_key"]
        assert cmk["primary_user_assigned_identity_id"] in replica["identity"]["identity_ids"]
        region = "keys-paired" if replica["location"] != server["location"] else "keys-primary"
        assert region in cmk["key_vault_key_id"]
    endpoints = resources(stack, "postgresql_flexible_server_virtual_endpoint")
    assert len(endpoints) == (1 if count else 0)
    for endpoint in endpoints.values():
        assert endpoint["type"] == "ReadWrite"
    if env != "dev":
        # Staging has prod's shape: one replica in another zone, one in the paired region.
        locations = sorted(r["location"] for r in found.values())
        assert locations == ["northeurope", "westeurope"]
        same_region = [r for r in found.values() if r["location"] == server["location"]]
        assert same_region[0]["zone"] != server["zone"]


@pytest.mark.parametrize("env", ENVS)
def test_no_public_access_anywhere(env: str, stacks: dict[str, dict[str, Any]]) -> None:
    # Public access, firewall ranges and default-deny are policy: CKV_LM_001-003, 010, 017.
    stack = stacks[env]
    for nsg in resources(stack, "network_security_group").values():
        for rule in nsg["security_rule"]:
            if rule["access"] == "Allow" and rule["direction"] == "Inbound":
                assert rule["source_address_prefix"] == "VirtualNetwork"
            if rule["access"] == "Allow" and rule["direction"] == "Outbound":
                # Only named services and the VNet, never the Internet as a whole.
                assert rule["destination_address_prefix"] not in {"*", "Internet"}, rule["name"]


@pytest.mark.parametrize("env", ENVS)
def test_network_is_private(env: str, stacks: dict[str, dict[str, Any]]) -> None:
    stack = stacks[env]
    subnets = resources(stack, "subnet")
    delegated = [s for s in subnets.values() if s.get("delegation")]
    vnets = resources(stack, "virtual_network")
    assert len(delegated) == len(vnets)
    for subnet in delegated:
        service = subnet["delegation"][0]["service_delegation"]["name"]
        assert service == "Microsoft.DBforPostgreSQL/flexibleServers"
    associations = resources(stack, "subnet_network_security_group_association")
    assert {a["subnet_id"] for a in associations.values()} == {
        ref("subnet", name) for name in subnets
    }
    zones = resources(stack, "private_dns_zone")
    links = resources(stack, "private_dns_zone_virtual_network_link")
    assert len(links) == len(zones) * len(vnets)
    for server in servers(stack).values():
        assert server["delegated_subnet_id"].startswith("${azurerm_subnet.")
        assert server["private_dns_zone_id"].startswith("${azurerm_private_dns_zone.")
    endpoints = resources(stack, "private_endpoint")
    targets = {e["private_service_connection"]["subresource_names"][0] for e in endpoints.values()}
    # Key Vaults, the archive's blobs, the service's Redis and Managed Grafana: nothing public.
    assert targets == {"vault", "blob", "redisCache", "grafana"}


@pytest.mark.parametrize("env", ENVS)
def test_keys_vaults_and_least_privilege(
    env: str, stacks: dict[str, dict[str, Any]], environments: dict[str, Environment]
) -> None:
    stack = stacks[env]
    spec = environments[env].keys
    for vault in resources(stack, "key_vault").values():
        assert vault["soft_delete_retention_days"] == spec.soft_delete_retention_days
    keys = resources(stack, "key_vault_key")
    names = sorted(k["name"] for k in keys.values())
    regions = 2 if environments[env].uses_paired_region else 1
    assert names.count("postgres-key") == regions
    assert "archive-key" in names
    assert "app-key" in names
    for key in keys.values():
        assert key["key_type"] == spec.key_type
        assert key["key_size"] == spec.key_size
        assert key["rotation_policy"]["expire_after"] == spec.expire_after
        assert (
            key["rotation_policy"]["automatic"]["time_before_expiry"] == spec.rotate_before_expiry
        )
        assert "timeadd(plantimestamp()" in key["expiration_date"]
    for assignment in resources(stack, "role_assignment").values():
        if assignment["role_definition_name"].startswith("Key Vault Crypto") and (
            assignment["role_definition_name"] != "Key Vault Crypto Officer"
        ):
            # Users of a key get a role on that key only, never on the whole vault.
            assert assignment["scope"].endswith(".resource_versionless_id}")
    if env == "prod":
        assert {k["key_type"] for k in keys.values()} == {"RSA-HSM"}


@pytest.mark.parametrize("env", ENVS)
def test_diagnostics_on_every_server_replica_and_vault(
    env: str, stacks: dict[str, dict[str, Any]]
) -> None:
    stack = stacks[env]
    targets = {
        d["target_resource_id"] for d in resources(stack, "monitor_diagnostic_setting").values()
    }
    for name in servers(stack):
        assert ref("postgresql_flexible_server", name) in targets
    for name in resources(stack, "key_vault"):
        assert ref("key_vault", name) in targets
    (workspace,) = resources(stack, "log_analytics_workspace").values()
    assert workspace["local_authentication_enabled"] is False


@pytest.mark.parametrize("env", ENVS)
def test_every_parameter_is_applied_in_range_with_its_reason(
    env: str, stacks: dict[str, dict[str, Any]], environments: dict[str, Environment]
) -> None:
    stack = stacks[env]
    spec = environments[env]
    by_name = {f"replicas_{spec.stem}-pg-{r.name}": r for r in spec.replicas}
    expected = {
        ref("postgresql_flexible_server", primary(stack)[0]): spec.parameters(),
        **{
            # Replicas get the parameters of their own SKU (never smaller than the primary's).
            ref("postgresql_flexible_server", n): spec.parameters(by_name[n.rsplit("_", 1)[0]])
            for n in replicas(stack)
        },
    }
    per_server: dict[str, dict[str, str]] = {}
    for config in resources(stack, "postgresql_flexible_server_configuration").values():
        param = next(p for p in expected[config["server_id"]] if p.name == config["name"])
        assert config["value"] == param.value
        assert param.allowed.accepts(config["value"])
        assert config["//"]["reason"] == param.reason
        per_server.setdefault(config["server_id"], {})[config["name"]] = config["value"]
    assert set(per_server) == set(expected)
    sku = find_sku(environments[env].server.sku)
    for server_id, values in per_server.items():
        assert set(values) == {p.name for p in expected[server_id]}
        # Independent of the tuner's own ranges: the platform's promises.
        assert int(values["max_connections"]) <= sku.max_connections
        assert values["azure.extensions"].split(",") == list(platform.allowed_extension_names())
        assert values["shared_preload_libraries"].split(",") == list(platform.preload_libraries())
        assert values["cron.database_name"] == platform.CRON_DATABASE
        assert int(values["idle_in_transaction_session_timeout"]) > 0
        for flag in ("log_checkpoints", "log_connections", "log_disconnections"):
            assert values[flag] == "on"
        assert values["connection_throttle.enable"] == "on"
        burstable_only_absent = {
            "pgbouncer.enabled",
            "pg_qs.query_capture_mode",
            "metrics.pgbouncer_diagnostics",
        }
        assert burstable_only_absent.isdisjoint(values) is sku.burstable
    if env == "prod":
        assert next(iter(per_server.values()))["ssl_min_protocol_version"] == "TLSv1.3"


@pytest.mark.parametrize("env", ENVS)
def test_backup_vault_and_archive_storage(
    env: str, stacks: dict[str, dict[str, Any]], environments: dict[str, Environment]
) -> None:
    stack = stacks[env]
    spec = environments[env]
    ((vault_name, vault),) = resources(stack, "data_protection_backup_vault").items()
    assert vault["redundancy"] == spec.backup.vault_redundancy
    (policy,) = resources(
        stack, "data_protection_backup_policy_postgresql_flexible_server"
    ).values()
    durations = {r["name"]: r["life_cycle"][0]["duration"] for r in policy["retention_rule"]}
    assert durations == {
        "yearly": spec.backup.yearly_retention,
        "monthly": spec.backup.monthly_retention,
    }
    (instance,) = resources(
        stack, "data_protection_backup_instance_postgresql_flexible_server"
    ).values()
    primary_name, _ = primary(stack)
    assert instance["server_id"] == ref("postgresql_flexible_server", primary_name)
    vault_principal = ref("data_protection_backup_vault", vault_name, "identity[0].principal_id")
    vault_roles = {
        a["role_definition_name"]
        for a in resources(stack, "role_assignment").values()
        if a["principal_id"] == vault_principal.replace("identity[0]", "identity.0")
        or a["principal_id"] == vault_principal
    }
    assert vault_roles == {"PostgreSQL Flexible Server Long Term Retention Backup Role", "Reader"}

    (account,) = resources(stack, "storage_account").values()
    assert account["blob_properties"]["versioning_enabled"] is True
    soft_delete = account["blob_properties"]["delete_retention_policy"]["days"]
    assert soft_delete == spec.archive.soft_delete_days
    assert "customer_managed_key" in account
    (immutability,) = resources(stack, "storage_container_immutability_policy").values()
    assert immutability["immutability_period_in_days"] == spec.archive.audit_immutability_days
    assert "audit-archive" in immutability["storage_container_resource_manager_id"]
    (lifecycle,) = resources(stack, "storage_management_policy").values()
    base = lifecycle["rule"][0]["actions"]["base_blob"]
    assert (
        base["tier_to_cool_after_days_since_modification_greater_than"]
        == spec.archive.cool_after_days
    )
    assert base["tier_to_archive_after_days_since_modification_greater_than"] == (
        spec.archive.archive_after_days
    )
    assert (
        base["delete_after_days_since_modification_greater_than"] == spec.archive.delete_after_days
    )


@pytest.mark.parametrize("env", ENVS)
def test_tags_on_every_taggable_resource(env: str, stacks: dict[str, dict[str, Any]]) -> None:
    stack = stacks[env]
    must_be_tagged = (
        "resource_group",
        "virtual_network",
        "network_security_group",
        "private_dns_zone",
        "private_endpoint",
        "key_vault",
        "key_vault_key",
        "user_assigned_identity",
        "postgresql_flexible_server",
        "log_analytics_workspace",
        "monitor_action_group",
        "monitor_metric_alert",
        "data_protection_backup_vault",
        "storage_account",
    )
    for kind in must_be_tagged:
        assert resources(stack, kind), kind
        for name, res in resources(stack, kind).items():
            assert res.get("tags", {}).get("environment") == env, name
    for kind, items in stack["resource"].items():
        for name, res in items.items():
            if "tags" in res:
                assert set(res["tags"]) == TAG_KEYS, f"{kind}.{name}"


SECRETISH = re.compile(r"password|secret|access_key|sas_token|connection_string|private_key")


@pytest.mark.parametrize("env", ENVS)
def test_no_secret_value_in_the_output(env: str, stacks: dict[str, dict[str, Any]]) -> None:
    stack = stacks[env]
    for path, value in walk(stack):
        leaf = path.rsplit(".", 1)[-1]
        if SECRETISH.search(leaf) and isinstance(value, str):
            # Only references to sensitive variables, never a literal.
            assert value.startswith("${var."), path
    for name, variable in stack.get("variable", {}).items():
        assert "default" not in variable, name
    text = json.dumps(stack)
    assert "BEGIN" not in text and "AccountKey=" not in text


@pytest.mark.parametrize("env", ENVS)
def test_outputs_give_the_app_what_it_needs_and_nothing_secret(
    env: str, stacks: dict[str, dict[str, Any]]
) -> None:
    outputs = stacks[env]["output"]
    assert set(outputs) == {
        "server_fqdn",
        "key_vault_uri",
        "app_identity_client_id",
        "tenant_kek_id",
        "redis_hostname",
    }
    assert outputs["tenant_kek_id"]["value"].startswith(
        "${azurerm_key_vault_key.keys-primary_app-key"
    )
    assert all("sensitive" not in o for o in outputs.values())
