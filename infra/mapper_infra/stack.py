"""One environment's stack: composes the constructs from its validated environment file.

Each construct takes its section of the environment model as it is; what it gets besides is the
wiring between constructs (ids of what others built), never a copy of the file's fields.
"""

from __future__ import annotations

from cdktf import Aspects, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from cdktf_cdktf_provider_azurerm.resource_group import ResourceGroup
from constructs import Construct

from mapper_infra.config import Environment
from mapper_infra.constructs.archive import ArchiveStorage, ArchiveWiring
from mapper_infra.constructs.backup import LongTermBackup
from mapper_infra.constructs.cache import AppCache, CacheWiring
from mapper_infra.constructs.grafana import Dashboards, DashboardsWiring
from mapper_infra.constructs.identity import RegionalKeys, VaultWiring
from mapper_infra.constructs.monitoring import Monitoring, MonitoringWiring, Watched
from mapper_infra.constructs.network import PrivateDns, RegionNetwork, peer
from mapper_infra.constructs.parameters import ParametersProps, ServerParameters
from mapper_infra.constructs.replicas import RegionWiring, Replicas, ReplicasWiring
from mapper_infra.constructs.server import GeoBackup, Server, ServerWiring
from mapper_infra.constructs.site import Site
from mapper_infra.provider import configure_terraform
from mapper_infra.tagging import TagEverything
from mapper_infra.watch import watched_server
from mapperdb.platform import APP_DATABASE


class DatabaseStack(TerraformStack):
    def __init__(self, scope: Construct, env: Environment) -> None:
        super().__init__(scope, env.name)
        configure_terraform(self, env)
        client = DataAzurermClientConfig(self, "client")
        group = ResourceGroup(self, "group", name=env.resource_group_name, location=env.location)
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
        Dashboards(
            self,
            "dashboards",
            site,
            DashboardsWiring(
                name=env.grafana_name,
                resource_group_id=group.id,
                endpoint_subnet_id=networks["primary"].endpoint_subnet.id,
                dns_zone_id=dns.zones["grafana"].id,
                admin_group_id=env.server.entra_admin.object_id,
                viewer_group_id=env.monitoring.dashboard_viewers,
            ),
        )
        watched = [watched_server(env, primary.id)]
        for replica, server in replicas.servers:
            # Azure wants a replica's max_connections and friends at least the primary's: the
            # replica's own SKU (never smaller) gives that.
            params = tuple(env.parameters(replica))
            ServerParameters(self, f"parameters-{replica.name}", ParametersProps(server.id, params))
            watched.append(watched_server(env, server.id, replica))

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
        cache = AppCache(
            self,
            "cache",
            site,
            env.cache,
            CacheWiring(
                env.cache_name,
                networks["primary"].endpoint_subnet.id,
                dns.zones["redis"].id,
                app_principal_id=application.identity.principal_id,
            ),
        )
        outputs = {
            "server_fqdn": primary.fqdn,
            "key_vault_uri": keys["primary"].vault.vault_uri,
            "app_identity_client_id": application.identity.client_id,
            "tenant_kek_id": application.key.versionless_id,
            "redis_hostname": cache.hostname,
        }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)
        Aspects.of(self).add(TagEverything(env.tags.as_dict(env.name)))
