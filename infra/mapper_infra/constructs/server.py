"""Server: the primary Flexible Server, its Entra ID admin group and the application database."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import ITerraformDependable, TerraformVariable
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

POSTGRES_VERSION = "17"
ADMIN_LOGIN = "mapperdb_admin"
PASSWORD_VARIABLE = "admin_password"  # noqa: S105 - the variable's name, not a password


@dataclass(frozen=True)
class GeoBackup:
    key_id: str
    identity_id: str


@dataclass(frozen=True)
class ServerProps:
    name: str
    resource_group_name: str
    location: str
    sku_name: str
    storage_mb: int
    storage_tier: str
    auto_grow: bool
    zone: str
    standby_zone: str | None
    backup_retention_days: int
    geo_backup: GeoBackup | None
    password_auth: bool
    password_version: int
    tenant_id: str
    admin_group_object_id: str
    admin_group_name: str
    subnet_id: str
    dns_zone_id: str
    identity_id: str
    key_id: str
    maintenance_window: dict[str, int]
    database: str
    # Key grants and DNS links Azure checks when it creates the server.
    depends_on: tuple[ITerraformDependable, ...]


class Server(Construct):
    """PostgreSQL 17, private access only, CMK, Entra ID first; HA when a standby zone is given."""

    def __init__(self, scope: Construct, id_: str, props: ServerProps) -> None:
        super().__init__(scope, id_)
        password = None
        if props.password_auth:
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
        geo = props.geo_backup
        cmk = PostgresqlFlexibleServerCustomerManagedKey(
            key_vault_key_id=props.key_id,
            primary_user_assigned_identity_id=props.identity_id,
            # Geo-redundant backups are encrypted with a key and identity of the paired region.
            geo_backup_key_vault_key_id=geo.key_id if geo else None,
            geo_backup_user_assigned_identity_id=geo.identity_id if geo else None,
        )
        identities = [props.identity_id] + ([geo.identity_id] if geo else [])
        self.server = PostgresqlFlexibleServer(
            self,
            "server",
            name=props.name,
            resource_group_name=props.resource_group_name,
            location=props.location,
            version=POSTGRES_VERSION,
            sku_name=props.sku_name,
            storage_mb=props.storage_mb,
            storage_tier=props.storage_tier,
            auto_grow_enabled=props.auto_grow,
            zone=props.zone,
            high_availability=(
                PostgresqlFlexibleServerHighAvailability(
                    mode="ZoneRedundant", standby_availability_zone=props.standby_zone
                )
                if props.standby_zone
                else None
            ),
            backup_retention_days=props.backup_retention_days,
            geo_redundant_backup_enabled=geo is not None,
            delegated_subnet_id=props.subnet_id,
            private_dns_zone_id=props.dns_zone_id,
            public_network_access_enabled=False,
            authentication=PostgresqlFlexibleServerAuthentication(
                active_directory_auth_enabled=True,
                password_auth_enabled=props.password_auth,
                tenant_id=props.tenant_id,
            ),
            identity=PostgresqlFlexibleServerIdentity(type="UserAssigned", identity_ids=identities),
            customer_managed_key=cmk,
            maintenance_window=PostgresqlFlexibleServerMaintenanceWindow(
                **props.maintenance_window
            ),
            administrator_login=ADMIN_LOGIN if password else None,
            administrator_password_wo=password,
            administrator_password_wo_version=props.password_version if password else None,
            depends_on=list(props.depends_on),
        )
        PostgresqlFlexibleServerActiveDirectoryAdministrator(
            self,
            "entra-admin",
            server_name=self.server.name,
            resource_group_name=props.resource_group_name,
            tenant_id=props.tenant_id,
            object_id=props.admin_group_object_id,
            principal_name=props.admin_group_name,
            principal_type="Group",
        )
        PostgresqlFlexibleServerDatabase(
            self,
            "database",
            name=props.database,
            server_id=self.server.id,
            charset="UTF8",
            collation="en_US.utf8",
        )
