"""CKV_LM_104: every alert's description links its runbook.

Metadata is the module-level literals below; the class is checkov's custom-check format.
"""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ID = "CKV_LM_104"
NAME = "Alert description links its runbook (docs/runbooks/<alert>.md)"
RESOURCES = (
    "azurerm_monitor_metric_alert",
    "azurerm_monitor_activity_log_alert",
    "azurerm_monitor_scheduled_query_rules_alert_v2",
)
CONTROLS = ("LM-MONITORING",)
WHY = (
    "An alert that pages someone at night without saying what to look at and what to do costs "
    "the first half hour of every incident; the link in the description travels with the "
    "notification (common alert schema)."
)
FIX = (
    "Add the alert to `infra/mapper_infra/data/alerts.toml` (the monitoring construct appends "
    "`Runbook: <url>/docs/runbooks/<id>.md`) and write that runbook."
)
RUNBOOK = re.compile(r"docs/runbooks/[a-z0-9-]+\.md")


class AlertLinksRunbook(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name=NAME,
            id=ID,
            categories=[CheckCategories.LOGGING],
            supported_resources=list(RESOURCES),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        description = conf.get("description", [""])[0]
        linked = isinstance(description, str) and RUNBOOK.search(description)
        return CheckResult.PASSED if linked else CheckResult.FAILED


check = AlertLinksRunbook()
