"""What an alert watches on a server, and its threshold there, without the azurerm bindings:
the monitoring construct builds alerts from it and the dashboards draw the same thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mapper_infra import catalog, config
from mapper_infra.config import TIER_IOPS

MIB = 1024**2


@dataclass(frozen=True)
class WatchedServer:
    """A server or replica, with the facts its relative thresholds are computed from."""

    key: str  # construct-id friendly name, e.g. "primary" or "replica-zone3"
    server_id: str
    role: Literal["primary", "replica"]
    max_connections: int
    storage_mb: int
    tier_iops: int
    pgbouncer: bool

    def watched_by(self, alert: catalog.MetricAlert) -> bool:
        if alert.target == "server":
            return True
        if alert.target == "pgbouncer":
            return self.pgbouncer
        return alert.target == self.role

    def threshold(self, alert: catalog.MetricAlert) -> float:
        share = alert.threshold / 100
        if alert.relative_to == "max_connections":
            return int(share * self.max_connections)
        if alert.relative_to == "storage":
            return int(share * self.storage_mb * MIB)
        if alert.relative_to == "tier_iops":
            return int(share * self.tier_iops)
        return alert.threshold


def watched_server(
    env: config.Environment, server_id: str, replica: config.Replica | None = None
) -> WatchedServer:
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
