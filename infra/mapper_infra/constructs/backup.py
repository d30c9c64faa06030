"""Backup: long-term retention of the server in a Data Protection backup vault.

Point-in-time restore covers at most 35 days; the vault keeps weekly, monthly and yearly copies
beyond that, immutable to anyone who compromises the server or its resource group.
"""

from __future__ import annotations

from cdktf_cdktf_provider_azurerm import (
    data_protection_backup_instance_postgresql_flexible_server as ltr_instance,
)
from cdktf_cdktf_provider_azurerm import (
    data_protection_backup_policy_postgresql_flexible_server as ltr_policy,
)
from cdktf_cdktf_provider_azurerm.data_protection_backup_vault import (
    DataProtectionBackupVault,
    DataProtectionBackupVaultIdentity,
)
from cdktf_cdktf_provider_azurerm.role_assignment import RoleAssignment
from constructs import Construct

from mapper_infra import config
from mapper_infra.constructs.protection import protect
from mapper_infra.constructs.site import Site

LTR_ROLE = "PostgreSQL Flexible Server Long Term Retention Backup Role"
# Weekly full backup on Sunday night, before the working week's changes pile up.
WEEKLY_SCHEDULE = "R/2025-01-05T01:00:00+00:00/P1W"


class LongTermBackup(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        site: Site,
        *,
        backup: config.Backup,
        protection: config.Protection,
        server_id: str,
        resource_group_id: str,
    ) -> None:
        super().__init__(scope, id_)
        vault = DataProtectionBackupVault(
            self,
            "vault",
            name=f"{site.stem}-backup",
            resource_group_name=site.resource_group_name,
            location=site.location,
            datastore_type="VaultStore",
            redundancy=backup.vault_redundancy,
            # A geo-redundant vault's copy is of use only if it can be restored in the paired
            # region while the primary one is down.
            cross_region_restore_enabled=True if backup.cross_region_restore else None,
            identity=DataProtectionBackupVaultIdentity(type="SystemAssigned"),
            # Soft-deleted backups survive 14 days; immutability stops early deletion of points
            # (Locked: for good, nobody can shorten retention or turn it off again).
            soft_delete=backup.soft_delete,
            retention_duration_in_days=14,
            immutability=backup.immutability,
        )
        protect(self, vault, vault.id, protection)
        policy = ltr_policy.DataProtectionBackupPolicyPostgresqlFlexibleServer(
            self,
            "policy",
            name=f"{site.stem}-ltr",
            vault_id=vault.id,
            backup_repeating_time_intervals=[WEEKLY_SCHEDULE],
            time_zone="UTC",
            default_retention_rule=ltr_policy.DataProtectionBackupPolicyPostgresqlFlexibleServerDefaultRetentionRule(
                life_cycle=[
                    ltr_policy.DataProtectionBackupPolicyPostgresqlFlexibleServerDefaultRetentionRuleLifeCycle(
                        data_store_type="VaultStore", duration=backup.weekly_retention
                    )
                ]
            ),
            retention_rule=[
                ltr_policy.DataProtectionBackupPolicyPostgresqlFlexibleServerRetentionRule(
                    name=name,
                    priority=priority,
                    criteria=ltr_policy.DataProtectionBackupPolicyPostgresqlFlexibleServerRetentionRuleCriteria(
                        absolute_criteria=criteria
                    ),
                    life_cycle=[
                        ltr_policy.DataProtectionBackupPolicyPostgresqlFlexibleServerRetentionRuleLifeCycle(
                            data_store_type="VaultStore", duration=duration
                        )
                    ],
                )
                for name, priority, criteria, duration in (
                    ("yearly", 20, "FirstOfYear", backup.yearly_retention),
                    ("monthly", 25, "FirstOfMonth", backup.monthly_retention),
                )
            ],
        )
        # What Azure Backup documents for the vault's identity: read the resource group and take
        # long-term backups of this one server; nothing more.
        roles = [
            RoleAssignment(
                self,
                id_,
                scope=scope,
                role_definition_name=role,
                principal_id=vault.identity.principal_id,
                principal_type="ServicePrincipal",
            )
            for id_, scope, role in (
                ("vault-ltr-role", server_id, LTR_ROLE),
                ("vault-reader-role", resource_group_id, "Reader"),
            )
        ]
        ltr_instance.DataProtectionBackupInstancePostgresqlFlexibleServer(
            self,
            "instance",
            name=f"{site.stem}-postgres",
            location=site.location,
            vault_id=vault.id,
            server_id=server_id,
            backup_policy_id=policy.id,
            depends_on=roles,
        )
