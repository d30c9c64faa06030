"""What keeps a stack alive after its first apply (issue 11): state, versions, what Azure changes
by itself, deletion protection, provider behaviours, creation order, replicas, network, backup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mapper_infra.config import Environment

from .tfjson import ref, resources

ENVS = ("dev", "staging", "prod")
Stacks = dict[str, dict[str, Any]]


def servers(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(stack, "postgresql_flexible_server")


def refs(stack: dict[str, Any], kind: str) -> set[str]:
    return {ref(kind, name) for name in resources(stack, kind)}


def test_every_environment_keeps_its_state_in_a_location_of_its_own(stacks: Stacks) -> None:
    locations = {
        name: (b["storage_account_name"], b["container_name"])
        for name, s in stacks.items()
        for b in [s["terraform"]["backend"]["azurerm"]]
    }
    assert len(set(locations.values())) == len(ENVS), locations
    # prod shares not even the account with the others.
    others = {account for name, (account, _) in locations.items() if name != "prod"}
    assert locations["prod"][0] not in others


@pytest.mark.parametrize("env", ENVS)
def test_terraform_and_provider_versions_are_pinned(
    env: str, stacks: Stacks, stack_paths: dict[str, Path]
) -> None:
    # The write-only admin password needs Terraform 1.11; Terraform reads every *.tf.json of
    # the stack's directory (app.py says why this one is a file of its own).
    versions = json.loads((stack_paths[env].parent / "versions.tf.json").read_text())
    assert versions == {"terraform": {"required_version": ">= 1.11.0"}}
    terraform = stacks[env]["terraform"]
    assert "required_version" not in terraform
    assert terraform["required_providers"]["azurerm"] == {
        "source": "hashicorp/azurerm",
        "version": "4.55.0",
    }


@pytest.mark.parametrize("env", ENVS)
def test_every_server_and_replica_ignores_what_azure_changes(
    env: str, stacks: Stacks, environments: dict[str, Environment]
) -> None:
    spec = environments[env].server
    for name, server in servers(stacks[env]).items():
        ignored = set(server["lifecycle"]["ignore_changes"])
        assert "zone" in ignored, name
        if spec.auto_grow:
            assert {"storage_mb", "storage_tier"} <= ignored, name
        if "high_availability" in server:
            assert "high_availability[0].standby_availability_zone" in ignored, name


def protected(env: str, stack: dict[str, Any]) -> set[str]:
    """Every resource the issue wants locked: servers, replicas, vaults, identities, backup vault,
    archive account."""
    return (
        refs(stack, "postgresql_flexible_server")
        | refs(stack, "key_vault")
        | refs(stack, "user_assigned_identity")
        | refs(stack, "data_protection_backup_vault")
        | refs(stack, "storage_account")
    )


@pytest.mark.parametrize("env", ENVS)
def test_locks_and_prevent_destroy_follow_the_environment_file(
    env: str, stacks: Stacks, environments: dict[str, Environment]
) -> None:
    stack = stacks[env]
    protection = environments[env].protection
    locks = resources(stack, "management_lock").values()
    assert {lock["lock_level"] for lock in locks} <= {"CanNotDelete"}
    locked = {lock["scope"] for lock in locks}
    assert locked == (protected(env, stack) if protection.delete_locks else set())
    kinds = (
        "postgresql_flexible_server",
        "key_vault",
        "key_vault_key",
        "user_assigned_identity",
        "data_protection_backup_vault",
        "storage_account",
    )
    for kind in kinds:
        for name, res in resources(stack, kind).items():
            refused = res.get("lifecycle", {}).get("prevent_destroy", False)
            assert refused is protection.prevent_destroy, f"{kind}.{name}"
    if env == "prod":
        assert protection.delete_locks and protection.prevent_destroy


@pytest.mark.parametrize("env", ENVS)
def test_provider_features_are_decided(
    env: str, stacks: Stacks, environments: dict[str, Environment]
) -> None:
    (provider,) = stacks[env]["provider"]["azurerm"]
    (features,) = provider["features"]
    restart = features["postgresql_flexible_server"][0]
    wanted = environments[env].server.restart_on_parameter_change
    assert restart["restart_server_on_configuration_value_change"] is wanted
    assert features["storage"] == [{"data_plane_available": False}]
    vault = features["key_vault"][0]
    assert vault["purge_soft_delete_on_destroy"] is False
    assert vault["recover_soft_deleted_key_vaults"] is True
    if env == "prod":
        assert wanted is False


@pytest.mark.parametrize("env", ENVS)
def test_keys_wait_for_the_vaults_endpoint_dns_and_role(env: str, stacks: Stacks) -> None:
    stack = stacks[env]
    endpoints = {
        name
        for name, e in resources(stack, "private_endpoint").items()
        if e["private_service_connection"]["subresource_names"] == ["vault"]
    }
    vault_links = {
        name
        for name, link in resources(stack, "private_dns_zone_virtual_network_link").items()
        if "vault" in link["private_dns_zone_name"]
    }
    assert endpoints and vault_links
    for name, key in resources(stack, "key_vault_key").items():
        region = name.split("_")[0]  # keys-primary / keys-paired
        needs = {f"azurerm_private_dns_zone_virtual_network_link.{link}" for link in vault_links}
        needs |= {f"azurerm_private_endpoint.{e}" for e in endpoints if e.startswith(region)}
        needs.add(
            next(
                f"azurerm_role_assignment.{r}"
                for r in resources(stack, "role_assignment")
                if r.startswith(f"{region}_deployer-crypto-officer")
            )
        )
        assert needs <= set(key["depends_on"]), name


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_virtual_endpoint_waits_for_every_replica_and_pairs_with_the_paired_region(
    env: str, stacks: Stacks
) -> None:
    stack = stacks[env]
    replicas = {name: s for name, s in servers(stack).items() if s.get("create_mode") == "Replica"}
    (endpoint,) = resources(stack, "postgresql_flexible_server_virtual_endpoint").values()
    assert set(endpoint["depends_on"]) == {
        f"azurerm_postgresql_flexible_server.{name}" for name in replicas
    }
    (partner,) = [
        name
        for name in replicas
        if endpoint["replica_server_id"] == ref("postgresql_flexible_server", name)
    ]
    assert replicas[partner]["location"] == "northeurope"


@pytest.mark.parametrize("env", ENVS)
def test_backup_vault_restores_across_regions_and_keeps_deleted_backups(
    env: str, stacks: Stacks, environments: dict[str, Environment]
) -> None:
    spec = environments[env].backup
    (vault,) = resources(stacks[env], "data_protection_backup_vault").values()
    geo = vault["redundancy"] == "GeoRedundant"
    assert vault.get("cross_region_restore_enabled", False) is geo
    assert vault["soft_delete"] in {"On", "AlwaysOn"}
    assert vault["immutability"] == spec.immutability
    if env == "prod":
        assert (vault["soft_delete"], vault["immutability"]) == ("AlwaysOn", "Locked")


@pytest.mark.parametrize("env", ENVS)
def test_server_subnet_outbound_is_provided_and_nothing_more(
    env: str, stacks: Stacks, environments: dict[str, Environment]
) -> None:
    stack = stacks[env]
    spec = environments[env]
    subnets = {name: s for name, s in resources(stack, "subnet").items() if s.get("delegation")}
    nat_links = {
        link["subnet_id"] for link in resources(stack, "subnet_nat_gateway_association").values()
    }
    for name, subnet in subnets.items():
        assert subnet["default_outbound_access_enabled"] is False
        assert subnet["service_endpoints"] == ["Microsoft.Storage"]
        assert ref("subnet", name) in nat_links, name
    locations = {spec.location, *([spec.paired_location] if spec.paired_location else [])}
    for nsg in resources(stack, "network_security_group").values():
        if not nsg["name"].endswith("-postgres-nsg"):
            continue
        rules = {r["name"]: r for r in nsg["security_rule"]}
        inbound = rules["allow-postgres-from-vnet"]
        assert inbound["destination_port_ranges"] == ["5432", "6432"]
        out = {
            r["destination_address_prefix"]
            for r in rules.values()
            if r["direction"] == "Outbound" and r["access"] == "Allow"
        }
        assert "AzureActiveDirectory" in out
        assert any(f"Storage.{loc}" in out for loc in locations)
        assert rules["deny-internet-outbound"]["destination_address_prefix"] == "Internet"
