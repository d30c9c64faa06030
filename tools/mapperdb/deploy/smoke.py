"""After migrations: can we connect, is row-level security forced on every tenant table, and do
the group roles the application and people log in through exist.

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

    def describe(self) -> str:
        return (
            f"PostgreSQL {self.server_version} as {self.user}; RLS forced on "
            f"{len(self.tenant_tables)} tenant table(s); roles {', '.join(self.roles)} exist"
        )


def smoke_check(connector: Connector, roles: tuple[str, ...] = EXPECTED_ROLES) -> SmokeResult:
    """Raise :class:`FindingsError` naming every problem; return what was checked."""
    with connector.connect() as conn:
        version, user = conn.execute(
            "select current_setting('server_version'), current_user"
        ).fetchone() or ("", "")
        tables = conn.execute(_TENANT_TABLES, (SCHEMA,)).fetchall()
        present = {
            row[0]
            for row in conn.execute(
                "select rolname from pg_catalog.pg_roles where rolname = any(%s)",
                (list(roles),),
            )
        }
    problems = [f"role {role} is missing" for role in roles if role not in present]
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
    return SmokeResult(str(version), str(user), tuple(name for name, _, _ in tables), roles)
