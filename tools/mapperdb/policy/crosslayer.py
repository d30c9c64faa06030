"""Cross-layer checks: the SQL migrations against each environment's synthesized stack.

Each check reads both sides and reports a :class:`Finding` when they disagree:

- LMX001 every extension ``sql/migrations`` creates is in each server's ``azure.extensions``;
- LMX002 every created extension that needs preloading is in ``shared_preload_libraries``;
- LMX003 ``cron.database_name`` is the application database the stack creates;
- LMX004 pgaudit is created by a migration and ``pgaudit.log`` is set on every server;
- LMX005 ``max_connections`` of the environment's SKU (and the value applied) minus Azure's
  reserved connections covers the pooled connections the environment file declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mapperdb import platform
from mapperdb.findings import Finding, Severity

if TYPE_CHECKING:  # the environment model comes from the caller (mapperdb.infra.policy)
    from mapper_infra.config import Environment

# Azure Database for PostgreSQL flexible server keeps this many connections of max_connections
# for replication and monitoring; clients get the rest.
AZURE_RESERVED_CONNECTIONS = 15
CHECKS = {
    "LMX001": "extension created by a migration is allowed on the server (azure.extensions)",
    "LMX002": "extension that needs preloading is in shared_preload_libraries",
    "LMX003": "cron.database_name is the application database",
    "LMX004": "pgaudit is created by a migration and pgaudit.log is set",
    "LMX005": "max_connections covers the pooled connections the environment declares",
}
_COMMENT = re.compile(r"--[^\n]*")
_CREATE = re.compile(
    r"\bcreate\s+extension\s+(?:if\s+not\s+exists\s+)?\"?([a-z0-9_\-]+)\"?", re.IGNORECASE
)
SERVER = "azurerm_postgresql_flexible_server"
CONFIGURATION = "azurerm_postgresql_flexible_server_configuration"
DATABASE = "azurerm_postgresql_flexible_server_database"


@dataclass(frozen=True)
class Created:
    extension: str
    file: Path
    line: int


def created_extensions(migrations: Path) -> list[Created]:
    """Every ``create extension`` of the up migrations (comments ignored), in file order."""
    found: list[Created] = []
    for path in sorted(migrations.glob("*.up.sql")):
        text = _COMMENT.sub("", path.read_text("utf-8"))
        for match in _CREATE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Created(match.group(1).lower(), path, line))
    return found


@dataclass
class ServerParameters:
    address: str
    line: int
    values: dict[str, str] = field(default_factory=dict)


def _lines(text: str) -> dict[str, int]:
    """Resource name -> the line its JSON key is on (first occurrence)."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r'\s*"([^"]+)": \{', line)
        if match:
            lines.setdefault(match.group(1), number)
    return lines


def server_parameters(stack: dict[str, Any], text: str) -> dict[str, ServerParameters]:
    """Server name -> its address, line and the parameters the stack applies to it."""
    lines = _lines(text)
    resources = stack.get("resource", {})
    servers = {
        name: ServerParameters(f"{SERVER}.{name}", lines.get(name, 1))
        for name in resources.get(SERVER, {})
    }
    for config in resources.get(CONFIGURATION, {}).values():
        match = re.fullmatch(r"\$\{" + SERVER + r"\.([^.}]+)\.id\}", str(config.get("server_id")))
        if match and match.group(1) in servers:
            servers[match.group(1)].values[str(config["name"])] = str(config["value"])
    return servers


def check_stack(
    stack_path: Path,
    stack: dict[str, Any],
    environment: Environment,
    migrations: Path,
    display_path: str | None = None,
) -> list[Finding]:
    """The cross-layer findings of one environment's stack (errors only)."""
    text = stack_path.read_text("utf-8")
    file = display_path or str(stack_path)
    created = created_extensions(migrations)
    names = {c.extension for c in created}
    preload = {ext.name for ext in platform.allowed_extensions() if ext.preload}
    findings: list[Finding] = []

    def report(rule: str, line: int, address: str, message: str) -> None:
        findings.append(
            Finding(
                file=file,
                line=line,
                column=0,
                rule=rule,
                severity=Severity.ERROR,
                message=f"{message} ({address})",
                extra={"environment": environment.name, "resource": address},
            )
        )

    databases = {str(d.get("name")) for d in stack.get("resource", {}).get(DATABASE, {}).values()}
    servers = server_parameters(stack, text)
    if "pgaudit" not in names:
        report(
            "LMX004",
            1,
            f"{migrations.name}/",
            "no migration creates pgaudit, so pgaudit.log audits no DDL; add "
            "`create extension pgaudit;` in a migration",
        )
    for server in servers.values():
        values = server.values
        allowed = _csv(values.get("azure.extensions", ""))
        for item in created:
            if item.extension not in allowed:
                report(
                    "LMX001",
                    server.line,
                    server.address,
                    f"{item.file.name}:{item.line} creates extension {item.extension}, which "
                    f"azure.extensions does not allow in {environment.name}; add it to "
                    "tools/mapperdb/data/azure_extensions.toml",
                )
        loaded = _csv(values.get("shared_preload_libraries", ""))
        for extension in sorted(names & preload - loaded):
            report(
                "LMX002",
                server.line,
                server.address,
                f"extension {extension} is created by a migration and must be preloaded, but "
                f"shared_preload_libraries is {values.get('shared_preload_libraries', 'unset')!r}",
            )
        cron = values.get("cron.database_name")
        if "pg_cron" in names and (cron != platform.APP_DATABASE or cron not in databases):
            report(
                "LMX003",
                server.line,
                server.address,
                f"cron.database_name is {cron!r}, not the application database "
                f"{platform.APP_DATABASE!r} the stack creates; pg_cron jobs would run elsewhere",
            )
        audit = _csv(values.get("pgaudit.log", ""))
        if not audit or audit <= {"none"}:
            report(
                "LMX004",
                server.line,
                server.address,
                "pgaudit.log is not set, so the pgaudit extension the migrations create logs "
                "nothing; set it (the platform uses ddl,role,write)",
            )
        report_connections(environment, server, report)
    return findings


def report_connections(environment: Environment, server: ServerParameters, report: Any) -> None:
    pooled = environment.server.pooled_connections
    if pooled is None:
        report(
            "LMX005",
            server.line,
            server.address,
            f"environment {environment.name} declares no server.pooled_connections; declare how "
            "many server connections its pools open at most",
        )
        return
    limit = environment.server.flexible_sku.max_connections
    applied = server.values.get("max_connections", "")
    if applied.isdigit():
        limit = min(limit, int(applied))
    usable = limit - AZURE_RESERVED_CONNECTIONS
    if pooled > usable:
        report(
            "LMX005",
            server.line,
            server.address,
            f"{environment.name} declares {pooled} pooled connections but max_connections "
            f"{limit} leaves {usable} after Azure's {AZURE_RESERVED_CONNECTIONS} reserved; "
            "shrink the pools or pick a larger SKU",
        )


def _csv(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}
