"""The cache construct, synthesized in a minimal test stack: private, TLS only, Entra ID, no
access keys, one data access policy per application identity, a private endpoint in the zone."""

from __future__ import annotations

import json
from typing import Any

import pytest


@pytest.mark.slow
def test_cache_construct_synthesizes_private_passwordless_redis() -> None:
    from cdktf import TerraformStack, Testing
    from cdktf_cdktf_provider_azurerm.provider import AzurermProvider

    from mapper_infra import config
    from mapper_infra.constructs.cache import DNS_ZONE, AppCache, CacheWiring
    from mapper_infra.constructs.site import Site

    stack = TerraformStack(Testing.app(), "cache-test")
    AzurermProvider(stack, "azurerm", features=[{}])
    AppCache(
        stack,
        "cache",
        Site("lmdb-test", "rg-test", "westeurope"),
        config.Cache(
            sku_name="Premium",
            capacity=1,
        ),
        CacheWiring(
            name="lmdb-test-cache",
            endpoint_subnet_id="/subscriptions/s/resourceGroups/rg/providers/x/subnets/endpoints",
            dns_zone_id=f"/subscriptions/s/resourceGroups/rg/providers/x/privateDnsZones/{DNS_ZONE}",
            app_principal_id="00000000-0000-4000-8000-000000000001",
        ),
    )
    resources: dict[str, Any] = json.loads(Testing.synth(stack))["resource"]
    (redis,) = resources["azurerm_redis_cache"].values()
    assert redis["public_network_access_enabled"] is False
    assert redis["non_ssl_port_enabled"] is False
    assert redis["minimum_tls_version"] == "1.2"
    assert redis["access_keys_authentication_enabled"] is False
    assert redis["redis_configuration"]["active_directory_authentication_enabled"] is True
    assert redis["sku_name"] == "Premium"
    (assignment,) = resources["azurerm_redis_cache_access_policy_assignment"].values()
    assert assignment["access_policy_name"] == "Data Contributor"
    assert assignment["object_id"] == "00000000-0000-4000-8000-000000000001"
    (endpoint,) = resources["azurerm_private_endpoint"].values()
    connection = endpoint["private_service_connection"]
    assert connection["subresource_names"] == ["redisCache"]
    assert endpoint["private_dns_zone_group"]["private_dns_zone_ids"][0].endswith(DNS_ZONE)
