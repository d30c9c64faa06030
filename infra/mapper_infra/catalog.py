"""The alert catalog (``data/alerts.toml``): every alert as data, with its runbook.

The monitoring construct builds alerts from it and dashboards can be generated from it; an
environment file only overrides threshold, window and severity of an entry (see
:class:`AlertSetting`). Importing this module does not load the azurerm bindings.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

CATALOG = Path(__file__).parent / "data/alerts.toml"
RUNBOOKS = "docs/runbooks"

# ISO 8601 windows Azure Monitor accepts for metric, log and event alerts.
Window = Literal["PT1M", "PT5M", "PT10M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D"]
Severity = Annotated[int, Field(ge=0, le=4)]
AlertId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{2,40}$")]

# Azure's severities 0 and 1 page someone, 2 goes to the team, 3 and 4 are for the record.
SEVERITY_GROUP = {0: "critical", 1: "critical", 2: "warning", 3: "info", 4: "info"}


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: AlertId
    summary: str = Field(min_length=10)
    severity: Severity

    @property
    def runbook(self) -> str:
        """The runbook's path in this repository."""
        return f"{RUNBOOKS}/{self.id}.md"

    @property
    def group(self) -> str:
        """The action group (critical, warning, info) that hears about it."""
        return SEVERITY_GROUP[self.severity]


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    values: tuple[str, ...] = Field(min_length=1)


class MetricAlert(_Entry):
    signal: Literal["metric"]
    target: Literal["server", "primary", "replica", "pgbouncer", "vault"]
    metric: str
    aggregation: Literal["Average", "Minimum", "Maximum", "Total", "Count"]
    operator: Literal["GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"]
    threshold: float
    # None: the threshold is absolute. Otherwise a percentage of the watched server's value.
    relative_to: Literal["max_connections", "storage", "tier_iops"] | None = None
    window: Window
    frequency: Window = "PT5M"
    dimension: Dimension | None = None


class EventAlert(_Entry):
    """Key Vault events (Event Grid), counted by a metric alert on the vault's system topic."""

    signal: Literal["event"]
    target: Literal["key_events"]
    event_types: tuple[str, ...] = Field(min_length=1)
    window: Window
    frequency: Window = "PT5M"


class LogAlert(_Entry):
    """Key Vault audit-log operations (data plane), queried in the Log Analytics workspace."""

    signal: Literal["log"]
    operations: tuple[str, ...] = Field(min_length=1)
    window: Window
    frequency: Window = "PT5M"


class ActivityAlert(_Entry):
    """A control-plane operation in the activity log of the environment's resource group."""

    signal: Literal["activity"]
    operation: str


class ResourceHealthAlert(_Entry):
    signal: Literal["resource_health"]


class ServiceHealthAlert(_Entry):
    signal: Literal["service_health"]
    services: tuple[str, ...] = Field(min_length=1)


Alert = Annotated[
    MetricAlert | EventAlert | LogAlert | ActivityAlert | ResourceHealthAlert | ServiceHealthAlert,
    Field(discriminator="signal"),
]


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: tuple[Alert, ...]


class AlertSetting(BaseModel):
    """An environment's change to one catalog entry (``[monitoring.alerts.<id>]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    threshold: float | None = None
    window: Window | None = None
    severity: Severity | None = None


@cache
def load_catalog(path: Path = CATALOG) -> tuple[Alert, ...]:
    """Every catalog entry, validated; ids are unique."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    alerts = Catalog.model_validate(data).alert
    ids = [a.id for a in alerts]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate alert ids {', '.join(duplicates)}")
    return alerts


def apply_settings(settings: dict[str, AlertSetting]) -> tuple[Alert, ...]:
    """The catalog with an environment's settings applied; disabled entries left out."""
    catalog = load_catalog()
    known = {a.id: a for a in catalog}
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(
            f"unknown alert {', '.join(unknown)}; the catalog ({CATALOG.name}) has "
            f"{', '.join(known)}"
        )
    result: list[Alert] = []
    for alert in catalog:
        setting = settings.get(alert.id, AlertSetting())
        if not setting.enabled:
            continue
        changes: dict[str, object] = {}
        if setting.severity is not None:
            changes["severity"] = setting.severity
        if setting.window is not None:
            if not hasattr(alert, "window"):
                raise ValueError(f"alert {alert.id}: a {alert.signal} alert has no window")
            changes["window"] = setting.window
        if setting.threshold is not None:
            if not isinstance(alert, MetricAlert):
                raise ValueError(f"alert {alert.id}: a {alert.signal} alert has no threshold")
            changes["threshold"] = setting.threshold
        result.append(alert.model_copy(update=changes))
    return tuple(result)


def as_json(alerts: tuple[Alert, ...]) -> list[dict[str, object]]:
    """The catalog as plain data (for dashboards and documentation)."""
    adapter: TypeAdapter[Alert] = TypeAdapter(Alert)
    return [adapter.dump_python(a, mode="json") | {"runbook": a.runbook} for a in alerts]
