"""One environment's stack: composes the constructs from its validated environment file.

Each construct takes its section of the environment model as it is; what it gets besides is the
wiring between constructs (ids of what others built), never a copy of the file's fields.
"""

from __future__ import annotations

from cdktf import Aspects, AzurermBackend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from cdktf_cdktf_provider_azurerm.provider import (
    AzurermProvider,
    AzurermProviderFeatures,
    AzurermProviderFeaturesKeyVault,
    AzurermProviderFeaturesPostgresqlFlexibleServer,
    AzurermProviderFeaturesResourceGroup,
    AzurermProviderFeaturesStorage,
)
from cdktf_cdktf_provider_azurerm.resource_group import ResourceGroup
from constructs import Construct

from mapper_infra.config import TIER_IOPS, Environment, Replica
from mapper_infra.constructs.archive import ArchiveStorage, ArchiveWiring
from mapper_infra.constructs.backup import LongTermBackup
from mapper_infra.constructs.identity import RegionalKeys, VaultWiring
from mapper_infra.constructs.monitoring import (
    Monitoring,
    MonitoringWiring,
    Watched,
    WatchedServer,
)
from mapper_infra.constructs.network import PrivateDns, RegionNetwork, peer
from mapper_infra.constructs.parameters import ParametersProps, ServerParameters
from mapper_infra.constructs.replicas import RegionWiring, Replicas, ReplicasWiring
from mapper_infra.constructs.server import GeoBackup, Server, ServerWiring
from mapper_infra.constructs.site import Site
from mapper_infra.tagging import TagEverything
from mapperdb.platform import APP_DATABASE

# Write-only attributes (the dev admin password) need Terraform 1.11 (written by app.py into the
# stack's versions.tf.json); the provider is the one the bindings were generated for (cdktf
# writes its exact version into required_providers).
REQUIRED_TERRAFORM = ">= 1.11.0"
PROVIDER_SOURCE = "hashicorp/azurerm"


class DatabaseStack(TerraformStack):
    def __init__(self, scope: Construct, env: Environment) -> None:
        super().__init__(scope, env.name)
        # cdktf writes the short "azurerm"; the full address leaves no doubt which registry.
        self.add_override("terraform.required_providers.azurerm.source", PROVIDER_SOURCE)
        AzurermProvider(
            self,
            "azurerm",
            features=[features(env)],
            # Storage and Key Vault data planes through Entra ID: no shared keys anywhere.
            storage_use_azuread=True,
        )
        AzurermBackend(self, **env.backend.model_dump(), use_azuread_auth=True)
        client = DataAzurermClientConfig(self, "client")
        group = ResourceGroup(self, "group", name=f"{env.stem}-rg", location=env.location)
        site = Site(env.stem, group.name, env.location)

        nets = {"primary": env.network.primary}
        sites = {"primary": site}
        if env.uses_paired_region:
            assert env.paired_location is not None and env.network.paired is not None
            nets["paired"] = env.network.paired
            sites["paired"] = site.at(env.paired_location)
        networks = {r: RegionNetwork(self, f"network-{r}", sites[r], nets[r]) for r in nets}
        if "paired" in networks:
            peer(self, group.name, networks["primary"].vnet, networks["paired"].vnet)
        dns = PrivateDns(self, "dns", site, tuple(n.vnet for n in networks.values()))
        keys = {
            region: RegionalKeys(
                self,
                f"keys-{region}",
                sites[region],
                keys=env.keys,
                protection=env.protection,
                wiring=VaultWiring(
                    name=env.stem if region == "primary" else f"{env.stem}-{region}",
                    vault_name=env.vault_name(region),
                    tenant_id=client.tenant_id,
                    deployer_object_id=client.object_id,
                    endpoint_subnet_id=networks[region].endpoint_subnet.id,
                    vault_dns_zone_id=dns.zones["vault"].id,
                    dns_links=tuple(dns.links["vault"]),
                    primary=region == "primary",
                ),
            )
            for region in nets
        }
        geo = keys["paired"].postgres if env.server.geo_redundant_backup else None
        local = keys["primary"].postgres
        primary = Server(
            self,
            "server",
            site,
            server=env.server,
            protection=env.protection,
            wiring=ServerWiring(
                tenant_id=client.tenant_id,
                subnet_id=networks["primary"].server_subnet.id,
                dns_zone_id=dns.zones["postgres"].id,
                identity_id=local.identity.id,
                key_id=local.key.versionless_id,
                geo_backup=GeoBackup(geo.key.versionless_id, geo.identity.id) if geo else None,
                database=APP_DATABASE,
                depends_on=(local.access, *([geo.access] if geo else []), *dns.links["postgres"]),
            ),
        ).server
        ServerParameters(self, "parameters", ParametersProps(primary.id, tuple(env.parameters())))
        replicas = Replicas(
            self,
            "replicas",
            site,
            env,
            ReplicasWiring(
                source_server_id=primary.id,
                dns_zone_id=dns.zones["postgres"].id,
                regions={
                    region: RegionWiring(
                        location=sites[region].location,
                        subnet_id=networks[region].server_subnet.id,
                        identity_id=keys[region].postgres.identity.id,
                        key_id=keys[region].postgres.key.versionless_id,
                        depends_on=(keys[region].postgres.access, *dns.links["postgres"]),
                    )
                    for region in nets
                },
            ),
        )
        watched = [watch(env, primary.id)]
        for replica, server in replicas.servers:
            # Azure wants a replica's max_connections and friends at least the primary's: the
            # replica's own SKU (never smaller) gives that.
            params = tuple(env.parameters(replica))
            ServerParameters(self, f"parameters-{replica.name}", ParametersProps(server.id, params))
            watched.append(watch(env, server.id, replica))

        LongTermBackup(
            self,
            "backup",
            site,
            backup=env.backup,
            protection=env.protection,
            server_id=primary.id,
            resource_group_id=group.id,
        )
        archive_key = keys["primary"].archive
        assert archive_key is not None  # the primary region always holds it
        archive = ArchiveStorage(
            self,
            "archive",
            site,
            retention=env.archive,
            protection=env.protection,
            wiring=ArchiveWiring(
                account_name=env.archive_account,
                endpoint_subnet_id=networks["primary"].endpoint_subnet.id,
                blob_dns_zone_id=dns.zones["blob"].id,
                encryption=archive_key,
            ),
        )
        Monitoring(
            self,
            "monitoring",
            site,
            env.monitoring,
            MonitoringWiring(
                resource_group_id=group.id,
                subscription_id=client.subscription_id,
                locations=tuple(s.location for s in sites.values()),
                servers=tuple(watched),
                vaults=tuple(
                    Watched(f"vault-{r}", k.vault.id, sites[r].location) for r, k in keys.items()
                ),
                logged_only=tuple(
                    Watched(
                        f"archive-{kind}",
                        f"{archive.account.id}/{kind}Services/default",
                        env.location,
                    )
                    for kind in ("blob", "queue")
                ),
                event_account_id=archive.account.id,
            ),
        )
        # What the application's deployment needs: where to connect, and which identity and key
        # encrypt per-tenant fields. Ids and names only; nothing secret.
        application = keys["primary"].application
        assert application is not None  # the primary region always holds it
        outputs = {
            "server_fqdn": primary.fqdn,
            "key_vault_uri": keys["primary"].vault.vault_uri,
            "app_identity_client_id": application.identity.client_id,
            "tenant_kek_id": application.key.versionless_id,
        }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)
        Aspects.of(self).add(TagEverything(env.tags.as_dict(env.name)))


def features(env: Environment) -> AzurermProviderFeatures:
    """The provider's behaviours, decided (docs/infra.md "Provider features")."""
    return AzurermProviderFeatures(
        postgresql_flexible_server=[
            AzurermProviderFeaturesPostgresqlFlexibleServer(
                # Off: a static parameter change waits for a restart in the maintenance window
                # instead of restarting prod in the middle of an apply.
                restart_server_on_configuration_value_change=(
                    env.server.restart_on_parameter_change
                )
            )
        ],
        # The archive account refuses public traffic: the provider manages it through the
        # control plane only (containers, policies, queues by storage_account_id).
        storage=[AzurermProviderFeaturesStorage(data_plane_available=False)],
        # Purge protection is on: a destroy must not try to purge, and a re-create after an
        # accidental delete recovers the soft-deleted vault and keys instead of failing.
        key_vault=[
            AzurermProviderFeaturesKeyVault(
                purge_soft_delete_on_destroy=False,
                purge_soft_deleted_keys_on_destroy=False,
                recover_soft_deleted_key_vaults=True,
                recover_soft_deleted_keys=True,
            )
        ],
        resource_group=[
            AzurermProviderFeaturesResourceGroup(prevent_deletion_if_contains_resources=True)
        ],
    )


def watch(env: Environment, server_id: str, replica: Replica | None = None) -> WatchedServer:
    """A server to alert on, with what its relative thresholds are computed from."""
    values = {p.name: p.value for p in env.parameters(replica)}
    return WatchedServer(
        key="primary" if replica is None else f"replica-{replica.name}",
        server_id=server_id,
        role="primary" if replica is None else "replica",
        max_connections=int(values["max_connections"]),
        storage_mb=env.server.storage_mb,
        tier_iops=TIER_IOPS[env.server.storage_tier],
        pgbouncer=values.get("pgbouncer.enabled") == "true",
    )
