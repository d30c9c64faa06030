"""After migrations: can we connect, is row-level security forced on every tenant table, and do
the group roles the application and people log in through exist.

Each endpoint is checked on its own: the primary, and the virtual endpoint's read-write and
read-only names when the stack outputs them (``read_write_endpoint``, ``read_only_endpoint``),
which must answer as a primary and as a replica respectively.

A tenant table is any table of schema ``mapper`` with a ``tenant_id`` column (partitions are
checked through their parent, which is what queries go through), found in the catalog rather
than listed here, so a new tenant table is covered the day its migration lands.
"""

from __future__ import annotations

from dataclasses import dataclass

from mapperdb.db import Connector, describe
from mapperdb.errors import FindingsError

SCHEMA = "mapper"
EXPECTED_ROLES = ("mapper_owner", "mapper_app", "mapper_readonly", "mapper_auditor")

_TENANT_TABLES = """
select c.relname, c.relrowsecurity, c.relforcerowsecurity
  from pg_catalog.pg_class as c
  join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
 where n.nspname = %s
   and c.relkind in ('r', 'p')
   and not c.relispartition
   and exists (
       select 1 from pg_catalog.pg_attribute as a
        where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
 order by c.relname
"""


@dataclass(frozen=True)
class SmokeResult:
    server_version: str
    user: str
    tenant_tables: tuple[str, ...]
    roles: tuple[str, ...]
    in_recovery: bool = False

    def describe(self) -> str:
        return (
            f"PostgreSQL {self.server_version} as {self.user}; RLS forced on "
            f"{len(self.tenant_tables)} tenant table(s); roles {', '.join(self.roles)} exist"
        )


def smoke_check(
    connector: Connector,
    roles: tuple[str, ...] = EXPECTED_ROLES,
    *,
    replica: bool | None = None,
) -> SmokeResult:
    """Raise :class:`FindingsError` naming every problem; return what was checked.

    ``replica``: True, the endpoint must be read-only (in recovery); False, it must accept
    writes; None, either.
    """
    with connector.connect() as conn:
        version, user, in_recovery = conn.execute(
            "select current_setting('server_version'), current_user, pg_catalog.pg_is_in_recovery()"
        ).fetchone() or ("", "", False)
        tables = conn.execute(_TENANT_TABLES, (SCHEMA,)).fetchall()
        present = {
            row[0]
            for row in conn.execute(
                "select rolname from pg_catalog.pg_roles where rolname = any(%s)",
                (list(roles),),
            )
        }
    problems = [f"role {role} is missing" for role in roles if role not in present]
    if replica is not None and bool(in_recovery) != replica:
        problems.append(
            "expected a read-only replica, but it accepts writes"
            if replica
            else "expected the read-write primary, but it is in recovery (a replica)"
        )
    if not tables:
        problems.append(f"no tenant tables in schema {SCHEMA}")
    problems += [
        f"{SCHEMA}.{name}: row level security is not "
        + ("forced" if enabled else "enabled and forced")
        for name, enabled, forced in tables
        if not (enabled and forced)
    ]
    if problems:
        raise FindingsError(f"smoke check of {describe(connector.conninfo)}: {'; '.join(problems)}")
    names = tuple(name for name, _, _ in tables)
    return SmokeResult(str(version), str(user), names, roles, bool(in_recovery))
