"""Monitoring: a Log Analytics workspace, diagnostic settings, one action group per severity,
metric alerts on every server, replica and vault, and activity-log alerts on deletions.

The metric alerts cover Azure Monitor Baseline Alerts (AMBA) for flexible servers and Key Vault.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_azurerm.log_analytics_workspace import LogAnalyticsWorkspace
from cdktf_cdktf_provider_azurerm.monitor_action_group import (
    MonitorActionGroup,
    MonitorActionGroupEmailReceiver,
)
from cdktf_cdktf_provider_azurerm.monitor_activity_log_alert import (
    MonitorActivityLogAlert,
    MonitorActivityLogAlertAction,
    MonitorActivityLogAlertCriteria,
)
from cdktf_cdktf_provider_azurerm.monitor_diagnostic_setting import (
    MonitorDiagnosticSetting,
    MonitorDiagnosticSettingEnabledLog,
    MonitorDiagnosticSettingEnabledMetric,
)
from cdktf_cdktf_provider_azurerm.monitor_metric_alert import (
    MonitorMetricAlert,
    MonitorMetricAlertAction,
    MonitorMetricAlertCriteria,
)
from constructs import Construct

SERVER_NAMESPACE = "Microsoft.DBforPostgreSQL/flexibleServers"
VAULT_NAMESPACE = "Microsoft.KeyVault/vaults"
GIB = 1024**3
# PostgreSQL stops accepting writes at 2^31 transaction IDs; alert at half, well after a healthy
# autovacuum (autovacuum_freeze_max_age, 200 million) would have frozen old rows.
XID_ALERT = 1_000_000_000


@dataclass(frozen=True)
class WatchedServer:
    key: str  # construct-id friendly name, e.g. "primary" or "replica-zone3"
    server_id: str
    max_connections: int
    replica: bool


@dataclass(frozen=True)
class Watched:
    """A resource that is not a server: a Key Vault, a blob service."""

    key: str
    resource_id: str


@dataclass(frozen=True)
class MetricRule:
    metric: str
    aggregation: str
    operator: str
    threshold: float
    severity: int
    description: str
    window: str = "PT15M"
    # The threshold is a share of the server's max_connections (from the tuned parameters).
    of_max_connections: bool = False

    def threshold_for(self, max_connections: int) -> float:
        return int(self.threshold * max_connections) if self.of_max_connections else self.threshold


SERVER_RULES = (
    MetricRule("cpu_percent", "Average", "GreaterThan", 90, 2, "CPU above 90%"),
    MetricRule("memory_percent", "Average", "GreaterThan", 90, 2, "memory above 90%"),
    MetricRule(
        "storage_percent",
        "Average",
        "GreaterThan",
        85,
        1,
        "storage above 85%: autogrow or cleanup needed",
    ),
    MetricRule(
        "storage_free", "Minimum", "LessThan", 5 * GIB, 1, "less than 5 GiB of storage free"
    ),
    MetricRule(
        "active_connections",
        "Maximum",
        "GreaterThan",
        0.8,
        2,
        "connections above 80% of max_connections: check pooling",
        of_max_connections=True,
    ),
    MetricRule(
        "connections_failed",
        "Total",
        "GreaterThan",
        10,
        2,
        "failed connections: misconfigured clients or password guessing",
        "PT5M",
    ),
    MetricRule(
        "disk_iops_consumed_percentage",
        "Average",
        "GreaterThan",
        90,
        2,
        "disk IOPS above 90% of the tier's limit",
    ),
    MetricRule("is_db_alive", "Minimum", "LessThan", 1, 0, "server is down", "PT5M"),
    MetricRule("deadlocks", "Total", "GreaterThan", 0, 3, "deadlocks detected"),
    MetricRule(
        "maximum_used_transactionIDs",
        "Maximum",
        "GreaterThan",
        XID_ALERT,
        1,
        "transaction ID wraparound approaching: vacuum is not keeping up",
    ),
)
REPLICA_RULES = (
    MetricRule(
        "physical_replication_delay_in_seconds",
        "Maximum",
        "GreaterThan",
        60,
        2,
        "replica more than a minute behind",
        "PT5M",
    ),
)
VAULT_RULES = (
    MetricRule(
        "Availability",
        "Average",
        "LessThan",
        100,
        1,
        "Key Vault requests failing: servers cannot unwrap their keys",
    ),
    MetricRule(
        "SaturationShoebox",
        "Average",
        "GreaterThan",
        75,
        2,
        "Key Vault above 75% of its throttling limit",
    ),
    MetricRule(
        "ServiceApiLatency", "Average", "GreaterThan", 1000, 2, "Key Vault latency above one second"
    ),
)
# severity -> action group; Azure's 0 and 1 page someone, 2 goes to the team, 3 is informational
SEVERITY_GROUP = {0: "critical", 1: "critical", 2: "warning", 3: "info"}


@dataclass(frozen=True)
class MonitoringProps:
    name: str
    resource_group_name: str
    resource_group_id: str
    location: str
    log_retention_days: int
    emails: dict[str, tuple[str, ...]]  # action group (critical/warning/info) -> addresses
    servers: tuple[WatchedServer, ...]
    vaults: tuple[Watched, ...]
    # Logged but not alerted on: the archive's blob service, so reads of audit archives leave
    # a trace in the workspace.
    logged_only: tuple[Watched, ...]


class Monitoring(Construct):
    def __init__(self, scope: Construct, id_: str, props: MonitoringProps) -> None:
        super().__init__(scope, id_)
        self.props = props
        self.workspace = LogAnalyticsWorkspace(
            self,
            "workspace",
            name=f"{props.name}-logs",
            resource_group_name=props.resource_group_name,
            location=props.location,
            sku="PerGB2018",
            retention_in_days=props.log_retention_days,
            local_authentication_enabled=False,
        )
        self.groups = {
            group: MonitorActionGroup(
                self,
                f"{group}-group",
                name=f"{props.name}-{group}",
                resource_group_name=props.resource_group_name,
                short_name=f"db{group}"[:12],
                email_receiver=[
                    MonitorActionGroupEmailReceiver(
                        name=f"{group}-{i}", email_address=email, use_common_alert_schema=True
                    )
                    for i, email in enumerate(emails)
                ],
            )
            for group, emails in props.emails.items()
        }
        for server in props.servers:
            self._diagnostics(server.key, server.server_id)
            rules = SERVER_RULES + (REPLICA_RULES if server.replica else ())
            for rule in rules:
                threshold = rule.threshold_for(server.max_connections)
                self._alert(server.key, server.server_id, SERVER_NAMESPACE, rule, threshold)
        for vault in props.vaults:
            self._diagnostics(vault.key, vault.resource_id)
            for rule in VAULT_RULES:
                self._alert(vault.key, vault.resource_id, VAULT_NAMESPACE, rule, rule.threshold)
        for logged in props.logged_only:
            self._diagnostics(logged.key, logged.resource_id)
        for key, operation in (
            ("server-deleted", f"{SERVER_NAMESPACE}/delete"),
            ("vault-deleted", f"{VAULT_NAMESPACE}/delete"),
        ):
            MonitorActivityLogAlert(
                self,
                key,
                name=f"{props.name}-{key}",
                resource_group_name=props.resource_group_name,
                location="global",
                scopes=[props.resource_group_id],
                description=f"{operation} was called in {props.name}",
                criteria=MonitorActivityLogAlertCriteria(
                    category="Administrative", operation_name=operation
                ),
                action=[MonitorActivityLogAlertAction(action_group_id=self.groups["critical"].id)],
            )

    def _diagnostics(self, key: str, target_id: str) -> None:
        MonitorDiagnosticSetting(
            self,
            f"{key}-diagnostics",
            name="to-log-analytics",
            target_resource_id=target_id,
            log_analytics_workspace_id=self.workspace.id,
            log_analytics_destination_type="Dedicated",
            enabled_log=[MonitorDiagnosticSettingEnabledLog(category_group="allLogs")],
            enabled_metric=[MonitorDiagnosticSettingEnabledMetric(category="AllMetrics")],
        )

    def _alert(
        self, key: str, scope: str, namespace: str, rule: MetricRule, threshold: float
    ) -> None:
        MonitorMetricAlert(
            self,
            f"{key}-{rule.metric}",
            name=f"{self.props.name}-{key}-{rule.metric}",
            resource_group_name=self.props.resource_group_name,
            scopes=[scope],
            description=rule.description,
            severity=rule.severity,
            frequency="PT5M",
            window_size=rule.window,
            criteria=[
                MonitorMetricAlertCriteria(
                    metric_namespace=namespace,
                    metric_name=rule.metric,
                    aggregation=rule.aggregation,
                    operator=rule.operator,
                    threshold=threshold,
                )
            ],
            action=[
                MonitorMetricAlertAction(
                    action_group_id=self.groups[SEVERITY_GROUP[rule.severity]].id
                )
            ],
        )
