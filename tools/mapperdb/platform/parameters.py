"""Server parameters for a Flexible Server SKU and workload, each with its reason and range.

Memory formulas (values in the units Azure's server parameters use):
  shared_buffers        25% of memory (12.5% at 2 GiB or less, to leave the OS room), in 8 kB pages:
                        PostgreSQL's own advice, and the share Flexible Server's defaults use.
  effective_cache_size  75% of memory, in 8 kB pages: shared_buffers plus the OS page cache the
                        planner may count on.
  maintenance_work_mem  memory / 16, capped at 2097151 kB (the maximum, just under 2 GiB), in kB:
                        VACUUM and index builds finish in one pass without starving queries.
  work_mem              (memory - shared_buffers) / (max_connections * active share), in kB,
                        between 4 MB and memory / 16: the share of connections expected to sort
                        or hash at the same time is 1 for oltp, 1/4 for mixed, 1/16 for analytics.
  max_connections       Azure's default for the memory size, never more (see skus.py).

Every parameter carries the range the platform accepts for it on that SKU; :func:`check` refuses
a value outside it, so an override in an environment file cannot slip a bad value into a stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from mapperdb import platform
from mapperdb.errors import ConfigError
from mapperdb.platform.skus import Sku

PAGE_KB = 8
MIB_KB = 1024
GIB_KB = 1024 * 1024
MIN_WORK_MEM_KB = 4 * MIB_KB
# PostgreSQL and Azure cap maintenance_work_mem one kB short of 2 GiB (INT_MAX / 1024).
MAX_MAINTENANCE_WORK_MEM_KB = 2097151

# Classes pgaudit may log; "all" and "none" are left out on purpose: one drowns the logs, the
# other silences the audit trail CIS 5.2 asks for.
PGAUDIT_CLASSES = ("read", "write", "function", "role", "ddl", "misc", "misc_set")


class Workload(StrEnum):
    OLTP = "oltp"
    MIXED = "mixed"
    ANALYTICS = "analytics"


# Share of max_connections expected to run a sort or hash at the same moment.
_ACTIVE_SHARE = {Workload.OLTP: 1, Workload.MIXED: 4, Workload.ANALYTICS: 16}
# Statements slower than this are logged: tighter for OLTP, where a slow statement is a bug.
_SLOW_STATEMENT_MS = {Workload.OLTP: 500, Workload.MIXED: 1000, Workload.ANALYTICS: 5000}


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    unit: str = ""

    def accepts(self, value: str) -> bool:
        return value.lstrip("-").isdigit() and self.low <= int(value) <= self.high

    def describe(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"an integer from {self.low} to {self.high}{unit}"


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]
    many: bool = False  # a comma-separated subset (pgaudit.log, azure.extensions)

    def accepts(self, value: str) -> bool:
        items = [item.strip() for item in value.split(",")] if self.many else [value]
        return bool(value) and all(item in self.values for item in items)

    def describe(self) -> str:
        kind = "a comma-separated subset of" if self.many else "one of"
        return f"{kind} {', '.join(self.values)}"


Allowed = IntRange | Choice


@dataclass(frozen=True)
class Parameter:
    name: str
    value: str
    reason: str
    allowed: Allowed


def _on(name: str, reason: str) -> Parameter:
    return Parameter(name, "on", reason, Choice(("on",)))


def memory_parameters(sku: Sku, workload: Workload) -> list[Parameter]:
    memory_kb = sku.memory_mib * MIB_KB
    share = 8 if sku.memory_gib <= 2 else 4
    shared_buffers_kb = memory_kb // share
    work_mem_kb = (memory_kb - shared_buffers_kb) * _ACTIVE_SHARE[workload] // sku.max_connections
    work_mem_kb = min(max(work_mem_kb, MIN_WORK_MEM_KB), memory_kb // 16)
    return [
        Parameter(
            "shared_buffers",
            str(shared_buffers_kb // PAGE_KB),
            f"1/{share} of {sku.memory_gib} GiB: PostgreSQL's guidance, the share Azure's defaults "
            "use; the OS page cache holds the rest",
            # PostgreSQL's docs: beyond 40% of memory the double caching stops paying off.
            IntRange(16, memory_kb * 2 // 5 // PAGE_KB, "8kB pages"),
        ),
        Parameter(
            "effective_cache_size",
            str(memory_kb * 3 // 4 // PAGE_KB),
            f"3/4 of {sku.memory_gib} GiB: shared_buffers plus the OS cache the planner can use",
            IntRange(1, memory_kb // PAGE_KB, "8kB pages"),
        ),
        Parameter(
            "maintenance_work_mem",
            str(min(memory_kb // 16, MAX_MAINTENANCE_WORK_MEM_KB)),
            "memory/16, capped at 2 GiB: VACUUM and index builds finish in one pass",
            IntRange(MIB_KB, min(memory_kb // 4, MAX_MAINTENANCE_WORK_MEM_KB), "kB"),
        ),
        Parameter(
            "work_mem",
            str(work_mem_kb),
            f"memory left after shared_buffers over {sku.max_connections} connections, "
            f"{_ACTIVE_SHARE[workload]}x for {workload.value} (share sorting at once), "
            "between 4 MB and memory/16",
            IntRange(MIN_WORK_MEM_KB, memory_kb // 16, "kB"),
        ),
        Parameter(
            "max_connections",
            str(sku.max_connections),
            f"Azure's default for {sku.memory_gib} GiB, never more: each backend costs ~10 MB; "
            + (
                "Burstable has no PgBouncer, so size the app pools to fit"
                if sku.burstable
                else "clients pool through the built-in PgBouncer"
            ),
            IntRange(25, sku.max_connections),
        ),
    ]


def operations_parameters(sku: Sku, workload: Workload) -> list[Parameter]:
    """Security, logging and platform parameters; Burstable lacks PgBouncer and Query Store."""
    extensions = platform.allowed_extension_names()
    preload = platform.preload_libraries()
    params = [
        _on("require_secure_transport", "refuse unencrypted connections (CIS 5.2.1)"),
        Parameter(
            "ssl_min_protocol_version",
            "TLSv1.2",
            "TLS 1.0 and 1.1 are broken; 1.2 is the floor (CIS 5.2)",
            Choice(("TLSv1.2", "TLSv1.3")),
        ),
        _on("log_checkpoints", "checkpoint timing explains I/O spikes (CIS 5.2.2)"),
        _on("log_connections", "who connected and from where (CIS 5.2.3)"),
        _on("log_disconnections", "session lengths for audits (CIS 5.2.4)"),
        _on("connection_throttle.enable", "slow down password guessing (CIS 5.2.5)"),
        Parameter(
            "logfiles.retention_days",
            "7",
            "server logs kept 7 days; CIS 5.2.6 asks for more than 3, Azure allows at most 7; "
            "longer history goes to Log Analytics",
            IntRange(4, 7, "days"),
        ),
        Parameter(
            "pgaudit.log",
            "ddl,role,write",
            "schema changes, grants and data writes are audited; reads would drown the log (the "
            "owner's reads are logged by its policies, 0032); misc_set would log every SET LOCAL "
            "of a tenant context and still miss a role given at startup",
            Choice(PGAUDIT_CLASSES, many=True),
        ),
        Parameter(
            "pgaudit.log_parameter",
            "off",
            "never on: the values bound to audited statements would be logged, wrapped data keys "
            "and tenant payloads among them",
            Choice(("off",)),
        ),
        Parameter(
            "log_min_messages",
            "warning",
            "Azure's default, pinned: the owner's reads are LOG lines (0032), which any value "
            "above LOG (fatal, panic) would drop",
            Choice(("warning", "error", "log")),
        ),
        Parameter(
            "azure.extensions",
            ",".join(extensions),
            "only the extensions the platform uses (data/azure_extensions.toml), as locally",
            Choice(extensions, many=True),
        ),
        Parameter(
            "shared_preload_libraries",
            ",".join(preload),
            "pg_cron, pgaudit and pg_stat_statements must load at start",
            Choice(preload, many=True),
        ),
        Parameter(
            "cron.database_name",
            platform.CRON_DATABASE,
            "pg_cron jobs (partition maintenance, retention) run where the data lives",
            Choice((platform.CRON_DATABASE,)),
        ),
        Parameter(
            "idle_in_transaction_session_timeout",
            "60000",
            "an idle open transaction holds locks and blocks vacuum; one minute is plenty",
            IntRange(1000, 3_600_000, "ms"),
        ),
        Parameter(
            "log_min_duration_statement",
            str(_SLOW_STATEMENT_MS[workload]),
            f"log statements slower than this for a {workload.value} workload",
            IntRange(100, 60_000, "ms"),
        ),
        _on("metrics.collector_database_activity", "enables the deadlocks metric alerts use"),
        _on("metrics.autovacuum_diagnostics", "enables the maximum_used_transactionIDs metric"),
    ]
    if not sku.burstable:
        params += [
            Parameter(
                "pgbouncer.enabled",
                "true",
                "the built-in PgBouncer takes the connections beyond max_connections",
                Choice(("true",)),
            ),
            Parameter(
                "pg_qs.query_capture_mode",
                "top",
                "Query Store keeps the top statements' history for the analyzer",
                Choice(("top", "all")),
            ),
            Parameter(
                "pgms_wait_sampling.query_capture_mode",
                "all",
                "wait sampling shows what slow statements wait on",
                Choice(("all",)),
            ),
        ]
    return params


def check(parameter: Parameter, sku: Sku) -> None:
    if not parameter.allowed.accepts(parameter.value):
        raise ConfigError(
            f"server parameter {parameter.name} = {parameter.value!r} is out of range for "
            f"{sku.sku_name}: allowed is {parameter.allowed.describe()}; change the value "
            "(or the SKU) in the environment file"
        )


def tune(
    sku: Sku, workload: Workload, overrides: Mapping[str, str] | None = None
) -> list[Parameter]:
    """Every parameter for ``sku`` and ``workload``, with ``overrides`` applied and checked."""
    params = memory_parameters(sku, workload) + operations_parameters(sku, workload)
    by_name = {p.name: p for p in params}
    for name, value in (overrides or {}).items():
        if name not in by_name:
            raise ConfigError(
                f"server parameter {name!r} is not managed here; overridable parameters are "
                f"{', '.join(sorted(by_name))}"
            )
        by_name[name] = replace(
            by_name[name],
            value=value,
            reason=f"{by_name[name].reason} (overridden by the environment file)",
        )
    result = list(by_name.values())
    for parameter in result:
        check(parameter, sku)
    return result
