"""One environment's stack: composes the constructs from its validated environment file."""

from __future__ import annotations

from cdktf import Aspects, AzurermBackend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from cdktf_cdktf_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures
from cdktf_cdktf_provider_azurerm.resource_group import ResourceGroup
from constructs import Construct

from mapper_infra.config import Environment
from mapper_infra.constructs.archive import ArchiveProps, ArchiveStorage
from mapper_infra.constructs.backup import BackupProps, LongTermBackup
from mapper_infra.constructs.identity import KeySpec, KeysProps, RegionalKeys
from mapper_infra.constructs.monitoring import (
    Monitoring,
    MonitoringProps,
    Watched,
    WatchedServer,
)
from mapper_infra.constructs.network import (
    NetworkProps,
    PrivateDns,
    PrivateDnsProps,
    RegionNetwork,
    peer,
)
from mapper_infra.constructs.parameters import ParametersProps, ServerParameters
from mapper_infra.constructs.replicas import Replicas, ReplicaSpec, ReplicasProps
from mapper_infra.constructs.server import GeoBackup, Server, ServerProps
from mapper_infra.tagging import TagEverything
from mapperdb.platform import APP_DATABASE


class DatabaseStack(TerraformStack):
    def __init__(self, scope: Construct, env: Environment) -> None:
        super().__init__(scope, env.name)
        stem = env.stem
        AzurermProvider(
            self,
            "azurerm",
            features=[AzurermProviderFeatures()],
            # Storage and Key Vault data planes through Entra ID: no shared keys anywhere.
            storage_use_azuread=True,
        )
        AzurermBackend(
            self,
            resource_group_name=env.backend.resource_group_name,
            storage_account_name=env.backend.storage_account_name,
            container_name=env.backend.container_name,
            key=env.backend.key,
            use_azuread_auth=True,
        )
        client = DataAzurermClientConfig(self, "client")
        group = ResourceGroup(self, "group", name=f"{stem}-rg", location=env.location)
        rg = group.name

        regions = {"primary": (env.location, env.network.primary)}
        if env.uses_paired_region:
            assert env.paired_location is not None and env.network.paired is not None
            regions["paired"] = (env.paired_location, env.network.paired)
        networks = {
            region: RegionNetwork(
                self,
                f"network-{region}",
                NetworkProps(
                    name=f"{stem}-{location}",
                    resource_group_name=rg,
                    location=location,
                    address_space=net.address_space,
                    server_subnet=net.server_subnet,
                    endpoint_subnet=net.endpoint_subnet,
                ),
            )
            for region, (location, net) in regions.items()
        }
        if "paired" in networks:
            peer(self, rg, networks["primary"].vnet, networks["paired"].vnet)
        dns = PrivateDns(
            self,
            "dns",
            PrivateDnsProps(
                resource_group_name=rg,
                postgres_zone=f"{stem}.private.postgres.database.azure.com",
                vnets=tuple(n.vnet for n in networks.values()),
            ),
        )
        key_spec = KeySpec(
            key_type=env.keys.key_type,
            key_size=env.keys.key_size,
            expire_after=env.keys.expire_after,
            rotate_before_expiry=env.keys.rotate_before_expiry,
        )
        keys = {
            region: RegionalKeys(
                self,
                f"keys-{region}",
                KeysProps(
                    name=stem if region == "primary" else f"{stem}-{region}",
                    vault_name=env.vault_name(region),
                    resource_group_name=rg,
                    location=location,
                    tenant_id=client.tenant_id,
                    deployer_object_id=client.object_id,
                    vault_sku=env.keys.vault_sku,
                    soft_delete_retention_days=env.keys.soft_delete_retention_days,
                    endpoint_subnet_id=networks[region].endpoint_subnet.id,
                    vault_dns_zone_id=dns.zones["vault"].id,
                    key=key_spec,
                    primary=region == "primary",
                ),
            )
            for region, (location, _) in regions.items()
        }

        srv = env.server
        geo = keys.get("paired") if srv.geo_redundant_backup else None
        primary = Server(
            self,
            "server",
            ServerProps(
                name=f"{stem}-pg",
                resource_group_name=rg,
                location=env.location,
                sku_name=srv.sku,
                storage_mb=srv.storage_mb,
                storage_tier=srv.storage_tier,
                auto_grow=srv.auto_grow,
                zone=srv.zone,
                standby_zone=srv.standby_zone,
                backup_retention_days=srv.backup_retention_days,
                geo_backup=(
                    GeoBackup(
                        key_id=geo.postgres.key.versionless_id, identity_id=geo.postgres.identity.id
                    )
                    if geo
                    else None
                ),
                password_auth=srv.password_auth,
                password_version=srv.password_version,
                tenant_id=client.tenant_id,
                admin_group_object_id=srv.entra_admin.object_id,
                admin_group_name=srv.entra_admin.principal_name,
                subnet_id=networks["primary"].server_subnet.id,
                dns_zone_id=dns.zones["postgres"].id,
                identity_id=keys["primary"].postgres.identity.id,
                key_id=keys["primary"].postgres.key.versionless_id,
                maintenance_window=srv.maintenance_window.model_dump(),
                database=APP_DATABASE,
                depends_on=(
                    keys["primary"].postgres.access,
                    *([geo.postgres.access] if geo else []),
                    *dns.links,
                ),
            ),
        ).server
        parameters = tuple(env.parameters())
        max_connections = int(next(p.value for p in parameters if p.name == "max_connections"))
        ServerParameters(self, "parameters", ParametersProps(primary.id, parameters))

        replicas = Replicas(
            self,
            "replicas",
            ReplicasProps(
                resource_group_name=rg,
                source_server_id=primary.id,
                sku_name=srv.sku,
                storage_mb=srv.storage_mb,
                storage_tier=srv.storage_tier,
                auto_grow=srv.auto_grow,
                endpoint_name=f"{stem}-endpoint",
                replicas=tuple(
                    ReplicaSpec(
                        name=f"{stem}-pg-{replica.name}",
                        location=regions[replica.region][0],
                        zone=replica.zone,
                        subnet_id=networks[replica.region].server_subnet.id,
                        dns_zone_id=dns.zones["postgres"].id,
                        identity_id=keys[replica.region].postgres.identity.id,
                        key_id=keys[replica.region].postgres.key.versionless_id,
                        depends_on=(keys[replica.region].postgres.access, *dns.links),
                    )
                    for replica in env.replicas
                ),
            ),
        )
        watched = [WatchedServer("primary", primary.id, max_connections, replica=False)]
        for spec, replica_server in replicas.servers:
            short = spec.name.removeprefix(f"{stem}-pg-")
            # Replicas run the same SKU, so they get the same parameters (Azure requires
            # max_connections and friends on a replica to be at least the primary's).
            ServerParameters(
                self, f"parameters-{short}", ParametersProps(replica_server.id, parameters)
            )
            watched.append(
                WatchedServer(f"replica-{short}", replica_server.id, max_connections, replica=True)
            )

        LongTermBackup(
            self,
            "backup",
            BackupProps(
                name=stem,
                resource_group_name=rg,
                resource_group_id=group.id,
                location=env.location,
                redundancy=env.backup.vault_redundancy,
                server_id=primary.id,
                weekly_retention=env.backup.weekly_retention,
                monthly_retention=env.backup.monthly_retention,
                yearly_retention=env.backup.yearly_retention,
            ),
        )
        archive_key = keys["primary"].archive
        assert archive_key is not None  # the primary region always holds it
        archive = ArchiveStorage(
            self,
            "archive",
            ArchiveProps(
                account_name=env.archive_account,
                resource_group_name=rg,
                location=env.location,
                retention=env.archive,
                endpoint_subnet_id=networks["primary"].endpoint_subnet.id,
                blob_dns_zone_id=dns.zones["blob"].id,
                encryption=archive_key,
            ),
        )
        Monitoring(
            self,
            "monitoring",
            MonitoringProps(
                name=stem,
                resource_group_name=rg,
                resource_group_id=group.id,
                location=env.location,
                log_retention_days=env.monitoring.log_retention_days,
                emails={
                    "critical": tuple(env.monitoring.critical_emails),
                    "warning": tuple(env.monitoring.warning_emails),
                    "info": tuple(env.monitoring.info_emails),
                },
                servers=tuple(watched),
                vaults=tuple(Watched(f"vault-{r}", k.vault.id) for r, k in keys.items()),
                logged_only=(
                    Watched("archive-blob", f"{archive.account.id}/blobServices/default"),
                ),
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
