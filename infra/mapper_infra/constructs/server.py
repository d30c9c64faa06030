"""Server: the primary Flexible Server, its Entra ID admin group and the application database."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import ITerraformDependable, TerraformResourceLifecycle, TerraformVariable
from cdktf_cdktf_provider_azurerm.postgresql_flexible_server import (
    PostgresqlFlexibleServer,
    PostgresqlFlexibleServerAuthentication,
    PostgresqlFlexibleServerCustomerManagedKey,
    PostgresqlFlexibleServerHighAvailability,
    PostgresqlFlexibleServerIdentity,
    PostgresqlFlexibleServerMaintenanceWindow,
)
from cdktf_cdktf_provider_azurerm.postgresql_flexible_server_active_directory_administrator import (
    PostgresqlFlexibleServerActiveDirectoryAdministrator,
)
from cdktf_cdktf_provider_azurerm.postgresql_flexible_server_database import (
    PostgresqlFlexibleServerDatabase,
)
from constructs import Construct

from mapper_infra import config
from mapper_infra.constructs.protection import protect
from mapper_infra.constructs.site import Site

POSTGRES_VERSION = "17"
ADMIN_LOGIN = "mapperdb_admin"
PASSWORD_VARIABLE = "admin_password"  # noqa: S105 - the variable's name, not a password


@dataclass(frozen=True)
class GeoBackup:
    key_id: str
    identity_id: str


@dataclass(frozen=True)
class ServerWiring:
    """What the server is connected to (built by other constructs)."""

    tenant_id: str
    subnet_id: str
    dns_zone_id: str
    identity_id: str
    key_id: str
    geo_backup: GeoBackup | None
    database: str
    # Key grants and DNS links Azure checks when it creates the server.
    depends_on: tuple[ITerraformDependable, ...]


def azure_managed(auto_grow: bool, high_availability: bool) -> list[str]:
    """Attributes Azure changes by itself, which a plan must not undo (as AVM's module does).

    Autogrow enlarges the disk (and may raise its tier): a smaller ``storage_mb`` in the plan
    would replace the server. A failover swaps the zones of the primary and its standby.
    """
    ignored = ["zone"]
    if high_availability:
        ignored.append("high_availability[0].standby_availability_zone")
    if auto_grow:
        ignored += ["storage_mb", "storage_tier"]
    return ignored


class Server(Construct):
    """PostgreSQL 17, private access only, CMK, Entra ID first; HA when a standby zone is given."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        site: Site,
        *,
        server: config.Server,
        protection: config.Protection,
        wiring: ServerWiring,
    ) -> None:
        super().__init__(scope, id_)
        password = None
        if server.password_auth:
            # Write-only attribute fed by an ephemeral variable: the password reaches Azure but
            # never the plan, the state or the synthesized JSON.
            variable = TerraformVariable(
                self,
                "admin-password",
                type="string",
                sensitive=True,
                nullable=False,
                description="Admin password; pipelines set TF_VAR_admin_password from a vault.",
            )
            variable.override_logical_id(PASSWORD_VARIABLE)
            variable.add_override("ephemeral", True)
            password = variable.string_value
        geo = wiring.geo_backup
        cmk = PostgresqlFlexibleServerCustomerManagedKey(
            key_vault_key_id=wiring.key_id,
            primary_user_assigned_identity_id=wiring.identity_id,
            # Geo-redundant backups are encrypted with a key and identity of the paired region.
            geo_backup_key_vault_key_id=geo.key_id if geo else None,
            geo_backup_user_assigned_identity_id=geo.identity_id if geo else None,
        )
        identities = [wiring.identity_id] + ([geo.identity_id] if geo else [])
        self.server = PostgresqlFlexibleServer(
            self,
            "server",
            name=f"{site.stem}-pg",
            resource_group_name=site.resource_group_name,
            location=site.location,
            version=POSTGRES_VERSION,
            sku_name=server.sku,
            storage_mb=server.storage_mb,
            storage_tier=server.storage_tier,
            auto_grow_enabled=server.auto_grow,
            zone=server.zone,
            high_availability=(
                PostgresqlFlexibleServerHighAvailability(
                    mode="ZoneRedundant", standby_availability_zone=server.standby_zone
                )
                if server.standby_zone
                else None
            ),
            backup_retention_days=server.backup_retention_days,
            geo_redundant_backup_enabled=geo is not None,
            delegated_subnet_id=wiring.subnet_id,
            private_dns_zone_id=wiring.dns_zone_id,
            public_network_access_enabled=False,
            authentication=PostgresqlFlexibleServerAuthentication(
                active_directory_auth_enabled=True,
                password_auth_enabled=server.password_auth,
                tenant_id=wiring.tenant_id,
            ),
            identity=PostgresqlFlexibleServerIdentity(type="UserAssigned", identity_ids=identities),
            customer_managed_key=cmk,
            maintenance_window=PostgresqlFlexibleServerMaintenanceWindow(
                **server.maintenance_window.model_dump()
            ),
            administrator_login=ADMIN_LOGIN if password else None,
            administrator_password_wo=password,
            administrator_password_wo_version=server.password_version if password else None,
            lifecycle=TerraformResourceLifecycle(
                ignore_changes=azure_managed(server.auto_grow, server.standby_zone is not None)
            ),
            depends_on=list(wiring.depends_on),
        )
        protect(self, self.server, self.server.id, protection)
        PostgresqlFlexibleServerActiveDirectoryAdministrator(
            self,
            "entra-admin",
            server_name=self.server.name,
            resource_group_name=site.resource_group_name,
            tenant_id=wiring.tenant_id,
            object_id=server.entra_admin.object_id,
            principal_name=server.entra_admin.principal_name,
            principal_type="Group",
        )
        PostgresqlFlexibleServerDatabase(
            self,
            "database",
            name=wiring.database,
            server_id=self.server.id,
            charset="UTF8",
            collation="en_US.utf8",
        )
