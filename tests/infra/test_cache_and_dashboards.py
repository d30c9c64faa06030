"""The service's Redis cache and Azure Managed Grafana in every environment's stack: private,
passwordless, with Entra roles (issues 14 and 15)."""

from __future__ import annotations

from typing import Any

from mapper_infra.config import Environment
from tests.infra.tfjson import ref, resources


def _endpoint_for(stack: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    target = ref(kind, name)
    [endpoint] = [
        e
        for e in resources(stack, "private_endpoint").values()
        if e["private_service_connection"]["private_connection_resource_id"] == target
    ]
    return endpoint


def test_every_environment_has_a_private_passwordless_cache(
    stacks: dict[str, dict[str, Any]], environments: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = environments[name]
        [(key, redis)] = resources(stack, "redis_cache").items()
        assert redis["name"] == env.cache_name
        assert redis["public_network_access_enabled"] is False
        assert redis["non_ssl_port_enabled"] is False
        assert redis["minimum_tls_version"] == "1.2"
        assert redis["access_keys_authentication_enabled"] is False
        assert redis["redis_configuration"]["active_directory_authentication_enabled"] is True
        assert redis["sku_name"] == env.cache.sku_name
        endpoint = _endpoint_for(stack, "redis_cache", key)
        assert endpoint["private_service_connection"]["subresource_names"] == ["redisCache"]
        zone = endpoint["private_dns_zone_group"]["private_dns_zone_ids"][0]
        assert "privatelink.redis.cache.windows.net" in str(
            [z["name"] for z in resources(stack, "private_dns_zone").values()]
        )
        assert zone.startswith("${azurerm_private_dns_zone.")
        assignments = resources(stack, "redis_cache_access_policy_assignment").values()
        assert {a["access_policy_name"] for a in assignments} == {"Data Contributor"}
        granted = {a["object_id"] for a in assignments}
        # The service's own managed identity (the app_identity_client_id output's), not a guess.
        [app] = [
            k
            for k, v in resources(stack, "user_assigned_identity").items()
            if v["name"].endswith("-app-id")
        ]
        assert granted == {ref("user_assigned_identity", app, "principal_id")}
        assert stack["output"]["redis_hostname"]["value"] == ref("redis_cache", key, "hostname")
        if env.cache.sku_name == "Premium":
            assert redis["replicas_per_primary"] == 2 and len(redis["zones"]) == 3


def test_every_environment_has_private_grafana_with_entra_roles(
    stacks: dict[str, dict[str, Any]], environments: dict[str, Environment]
) -> None:
    for name, stack in stacks.items():
        env = environments[name]
        [(key, grafana)] = resources(stack, "dashboard_grafana").items()
        assert grafana["name"] == env.grafana_name
        assert grafana["public_network_access_enabled"] is False
        assert grafana["api_key_enabled"] is False
        assert grafana["identity"]["type"] == "SystemAssigned"
        _endpoint_for(stack, "dashboard_grafana", key)
        roles = {
            (r["role_definition_name"], r["principal_id"])
            for r in resources(stack, "role_assignment").values()
        }
        assert ("Grafana Admin", env.server.entra_admin.object_id) in roles
        assert ("Grafana Viewer", env.monitoring.dashboard_viewers) in roles
        reader = ref("dashboard_grafana", key, "identity[0].principal_id")
        assert ("Monitoring Reader", reader) in roles
