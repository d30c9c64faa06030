"""Monitoring: a Log Analytics workspace, diagnostic settings, one action group per severity, and
every alert of the catalog (``mapper_infra/data/alerts.toml``) on what it targets.

The construct holds no thresholds: they come from the catalog with the environment's settings
applied (``Monitoring.catalog``); each alert's description links its runbook.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_azurerm.eventgrid_system_topic import (
    EventgridSystemTopic,
    EventgridSystemTopicIdentity,
)
from cdktf_cdktf_provider_azurerm.eventgrid_system_topic_event_subscription import (
    EventgridSystemTopicEventSubscription,
    EventgridSystemTopicEventSubscriptionDeliveryIdentity,
    EventgridSystemTopicEventSubscriptionStorageQueueEndpoint,
)
from cdktf_cdktf_provider_azurerm.log_analytics_workspace import LogAnalyticsWorkspace
from cdktf_cdktf_provider_azurerm.monitor_action_group import (
    MonitorActionGroup,
    MonitorActionGroupEmailReceiver,
)
from cdktf_cdktf_provider_azurerm.monitor_activity_log_alert import (
    MonitorActivityLogAlert,
    MonitorActivityLogAlertAction,
    MonitorActivityLogAlertCriteria,
    MonitorActivityLogAlertCriteriaResourceHealth,
    MonitorActivityLogAlertCriteriaServiceHealth,
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
    MonitorMetricAlertCriteriaDimension,
)
from cdktf_cdktf_provider_azurerm.monitor_scheduled_query_rules_alert_v2 import (
    MonitorScheduledQueryRulesAlertV2,
    MonitorScheduledQueryRulesAlertV2Action,
    MonitorScheduledQueryRulesAlertV2Criteria,
)
from cdktf_cdktf_provider_azurerm.role_assignment import RoleAssignment
from cdktf_cdktf_provider_azurerm.storage_queue import StorageQueue
from constructs import Construct

from mapper_infra import catalog, config
from mapper_infra.config import REGION_NAMES
from mapper_infra.constructs.site import Site
from mapper_infra.watch import WatchedServer

SERVER_NAMESPACE = "Microsoft.DBforPostgreSQL/flexibleServers"
VAULT_NAMESPACE = "Microsoft.KeyVault/vaults"
TOPIC_NAMESPACE = "Microsoft.EventGrid/systemTopics"
KEY_EVENTS_QUEUE = "key-events"


@dataclass(frozen=True)
class Watched:
    """A resource that is not a server: a Key Vault, a blob service."""

    key: str
    resource_id: str
    location: str


@dataclass(frozen=True)
class MonitoringWiring:
    resource_group_id: str
    subscription_id: str
    locations: tuple[str, ...]  # the regions the environment runs in
    servers: tuple[WatchedServer, ...]
    vaults: tuple[Watched, ...]
    # Logged but not alerted on: the archive's blob and queue services, so reads of audit
    # archives and of key events leave a trace in the workspace.
    logged_only: tuple[Watched, ...]
    # Where Key Vault events (expiry notices) are queued for whoever follows the runbook.
    event_account_id: str


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        site: Site,
        monitoring: config.Monitoring,
        wiring: MonitoringWiring,
    ) -> None:
        super().__init__(scope, id_)
        self.site, self.monitoring, self.wiring = site, monitoring, wiring
        self.workspace = LogAnalyticsWorkspace(
            self,
            "workspace",
            name=f"{site.stem}-logs",
            resource_group_name=site.resource_group_name,
            location=site.location,
            sku="PerGB2018",
            retention_in_days=monitoring.log_retention_days,
            local_authentication_enabled=False,
        )
        emails = {
            "critical": monitoring.critical_emails,
            "warning": monitoring.warning_emails,
            "info": monitoring.info_emails,
        }
        self.groups = {
            group: MonitorActionGroup(
                self,
                f"{group}-group",
                name=f"{site.stem}-{group}",
                resource_group_name=site.resource_group_name,
                short_name=f"db{group}"[:12],
                email_receiver=[
                    MonitorActionGroupEmailReceiver(
                        name=f"{group}-{i}", email_address=email, use_common_alert_schema=True
                    )
                    for i, email in enumerate(addresses)
                ],
            )
            for group, addresses in emails.items()
        }
        targets: list[WatchedServer | Watched] = [
            *wiring.servers,
            *wiring.vaults,
            *wiring.logged_only,
        ]
        for target in targets:
            self._diagnostics(target)
        topics: dict[str, EventgridSystemTopic] = {}
        for alert in monitoring.catalog:
            if isinstance(alert, catalog.MetricAlert):
                self._metric_alerts(alert)
            elif isinstance(alert, catalog.EventAlert):
                topics = topics or self._key_event_topics(alert)
                for key, topic in topics.items():
                    self._event_alert(alert, key, topic)
            elif isinstance(alert, catalog.LogAlert):
                self._log_alert(alert)
            else:
                self._activity_alert(alert)

    def _description(self, alert: catalog.Alert) -> str:
        return f"{alert.summary}. Runbook: {self.monitoring.runbook_url(alert)}"

    def _diagnostics(self, target: WatchedServer | Watched) -> None:
        MonitorDiagnosticSetting(
            self,
            f"{target.key}-diagnostics",
            name="to-log-analytics",
            target_resource_id=(
                target.server_id if isinstance(target, WatchedServer) else target.resource_id
            ),
            log_analytics_workspace_id=self.workspace.id,
            log_analytics_destination_type="Dedicated",
            enabled_log=[MonitorDiagnosticSettingEnabledLog(category_group="allLogs")],
            enabled_metric=[MonitorDiagnosticSettingEnabledMetric(category="AllMetrics")],
        )

    def _metric_alerts(self, alert: catalog.MetricAlert) -> None:
        if alert.target == "vault":
            for vault in self.wiring.vaults:
                self._metric(alert, vault.key, vault.resource_id, VAULT_NAMESPACE, alert.threshold)
            return
        for server in self.wiring.servers:
            if server.watched_by(alert):
                self._metric(
                    alert, server.key, server.server_id, SERVER_NAMESPACE, server.threshold(alert)
                )

    def _metric(
        self,
        alert: catalog.MetricAlert | catalog.EventAlert,
        key: str,
        scope: str,
        namespace: str,
        threshold: float,
    ) -> None:
        if isinstance(alert, catalog.MetricAlert):
            metric, aggregation, operator = alert.metric, alert.aggregation, alert.operator
            dimensions = (
                [
                    MonitorMetricAlertCriteriaDimension(
                        name=alert.dimension.name,
                        operator="Include",
                        values=list(alert.dimension.values),
                    )
                ]
                if alert.dimension
                else None
            )
        else:
            metric, aggregation, operator, dimensions = (
                "MatchedEventCount",
                "Total",
                "GreaterThan",
                None,
            )
        MonitorMetricAlert(
            self,
            f"{key}-{alert.id}",
            name=f"{self.site.stem}-{key}-{alert.id}",
            resource_group_name=self.site.resource_group_name,
            scopes=[scope],
            description=self._description(alert),
            severity=alert.severity,
            frequency=alert.frequency,
            window_size=alert.window,
            criteria=[
                MonitorMetricAlertCriteria(
                    metric_namespace=namespace,
                    metric_name=metric,
                    aggregation=aggregation,
                    operator=operator,
                    threshold=threshold,
                    dimension=dimensions,
                )
            ],
            action=[MonitorMetricAlertAction(action_group_id=self.groups[alert.group].id)],
        )

    def _key_event_topics(self, alert: catalog.EventAlert) -> dict[str, EventgridSystemTopic]:
        """Each vault's Event Grid topic, delivering the alert's events to one queue.

        Key Vault publishes KeyNearExpiry only to a subscriber; the queue keeps the events (which
        key, which version) for the runbook, and a metric alert on each topic counts them.
        """
        queue = StorageQueue(
            self,
            "key-events-queue",
            name=KEY_EVENTS_QUEUE,
            storage_account_id=self.wiring.event_account_id,
        )
        topics = {}
        for vault in self.wiring.vaults:
            topic = EventgridSystemTopic(
                self,
                f"{vault.key}-events",
                name=f"{self.site.stem}-{vault.key}-events",
                resource_group_name=self.site.resource_group_name,
                location=vault.location,
                topic_type=VAULT_NAMESPACE,
                source_resource_id=vault.resource_id,
                identity=EventgridSystemTopicIdentity(type="SystemAssigned"),
            )
            sender = RoleAssignment(
                self,
                f"{vault.key}-events-sender",
                scope=queue.resource_manager_id,
                role_definition_name="Storage Queue Data Message Sender",
                principal_id=topic.identity.principal_id,
                principal_type="ServicePrincipal",
            )
            EventgridSystemTopicEventSubscription(
                self,
                f"{vault.key}-key-expiry",
                name="key-expiry",
                system_topic=topic.name,
                resource_group_name=self.site.resource_group_name,
                included_event_types=list(alert.event_types),
                storage_queue_endpoint=EventgridSystemTopicEventSubscriptionStorageQueueEndpoint(
                    storage_account_id=self.wiring.event_account_id, queue_name=queue.name
                ),
                delivery_identity=EventgridSystemTopicEventSubscriptionDeliveryIdentity(
                    type="SystemAssigned"
                ),
                depends_on=[sender],
            )
            topics[vault.key] = topic
        return topics

    def _event_alert(
        self, alert: catalog.EventAlert, key: str, topic: EventgridSystemTopic
    ) -> None:
        self._metric(alert, f"{key}-events", topic.id, TOPIC_NAMESPACE, 0)

    def _log_alert(self, alert: catalog.LogAlert) -> None:
        operations = ", ".join(f'"{op}"' for op in alert.operations)
        # Key Vault logs go to AZKVAuditLogs (resource-specific) or AzureDiagnostics, depending
        # on the workspace's state; the union covers both and tolerates an absent table.
        query = (
            f"let ops = dynamic([{operations}]);\n"
            "union isfuzzy=true\n"
            "    (AZKVAuditLogs | where OperationName in (ops)),\n"
            '    (AzureDiagnostics | where ResourceProvider == "MICROSOFT.KEYVAULT"'
            " and OperationName in (ops))"
        )
        MonitorScheduledQueryRulesAlertV2(
            self,
            alert.id,
            name=f"{self.site.stem}-{alert.id}",
            resource_group_name=self.site.resource_group_name,
            location=self.site.location,
            scopes=[self.workspace.id],
            description=self._description(alert),
            severity=alert.severity,
            evaluation_frequency=alert.frequency,
            window_duration=alert.window,
            criteria=[
                MonitorScheduledQueryRulesAlertV2Criteria(
                    query=query,
                    time_aggregation_method="Count",
                    operator="GreaterThan",
                    threshold=0,
                )
            ],
            # The tables appear with the first log entry; the query is valid before that.
            skip_query_validation=True,
            action=MonitorScheduledQueryRulesAlertV2Action(
                action_groups=[self.groups[alert.group].id]
            ),
        )

    def _activity_alert(
        self,
        alert: catalog.ActivityAlert | catalog.ResourceHealthAlert | catalog.ServiceHealthAlert,
    ) -> None:
        scopes = [self.wiring.resource_group_id]
        if isinstance(alert, catalog.ActivityAlert):
            criteria = MonitorActivityLogAlertCriteria(
                category="Administrative", operation_name=alert.operation
            )
        elif isinstance(alert, catalog.ResourceHealthAlert):
            criteria = MonitorActivityLogAlertCriteria(
                category="ResourceHealth",
                resource_types=[SERVER_NAMESPACE, VAULT_NAMESPACE],
                resource_health=MonitorActivityLogAlertCriteriaResourceHealth(
                    current=["Degraded", "Unavailable"],
                    # A restart someone asked for is not news.
                    reason=["PlatformInitiated", "Unknown"],
                ),
            )
        else:
            scopes = [f"/subscriptions/{self.wiring.subscription_id}"]
            criteria = MonitorActivityLogAlertCriteria(
                category="ServiceHealth",
                service_health=MonitorActivityLogAlertCriteriaServiceHealth(
                    events=["Incident", "Maintenance", "Security", "ActionRequired"],
                    locations=[REGION_NAMES[location] for location in self.wiring.locations],
                    services=list(alert.services),
                ),
            )
        MonitorActivityLogAlert(
            self,
            alert.id,
            name=f"{self.site.stem}-{alert.id}",
            resource_group_name=self.site.resource_group_name,
            location="global",
            scopes=scopes,
            description=self._description(alert),
            criteria=criteria,
            action=[MonitorActivityLogAlertAction(action_group_id=self.groups[alert.group].id)],
        )
