"""``mapperdb erd``: a Mermaid ER diagram of the live catalog (never drawn by hand).

Tables of a schema (partitions folded into their parent), their columns and types, primary and
foreign key markers, and one relationship per foreign key. ``--write FILE`` replaces the block
between ``<!-- erd:begin -->`` and ``<!-- erd:end -->`` in FILE, so docs stay generated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import psycopg

from mapperdb.db import Connector, resolve_conninfo
from mapperdb.errors import ConfigError

BEGIN = "<!-- erd:begin -->"
END = "<!-- erd:end -->"

COLUMNS = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
    coalesce(a.attnum = any(pk.conkey), false),
    exists (
        select from pg_catalog.pg_constraint f
        where f.conrelid = c.oid and f.contype = 'f' and a.attnum = any(f.conkey)
    )
from pg_catalog.pg_class c
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_constraint pk on pk.conrelid = c.oid and pk.contype = 'p'
where c.relnamespace = %s::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
order by c.relname, a.attnum
"""

FOREIGN_KEYS = """
select f.conname, c.relname, r.relname,
    array(select a.attname from unnest(f.conkey) k join pg_catalog.pg_attribute a
          on a.attrelid = f.conrelid and a.attnum = k order by a.attnum)
from pg_catalog.pg_constraint f
join pg_catalog.pg_class c on c.oid = f.conrelid
join pg_catalog.pg_class r on r.oid = f.confrelid
where f.contype = 'f' and c.relnamespace = %s::regnamespace and not c.relispartition
    and f.conparentid = 0
order by c.relname, f.conname
"""


@dataclass
class Table:
    name: str
    columns: list[tuple[str, str, str]] = field(default_factory=list)  # name, type, markers


def _type(name: str) -> str:
    """Mermaid attribute types are single words."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name.replace("[]", "_array")).strip("_")


def mermaid_erd(conn: psycopg.Connection[Any], schema: str = "mapper") -> str:
    tables: dict[str, Table] = {}
    for table, column, typ, notnull, is_pk, is_fk in conn.execute(COLUMNS, (schema,)):
        markers = ",".join(m for m, on in (("PK", is_pk), ("FK", is_fk)) if on)
        comment = "" if notnull else '"nullable"'
        tables.setdefault(table, Table(table)).columns.append(
            (column, _type(typ), f"{markers} {comment}".strip())
        )
    lines = ["erDiagram"]
    for name, columns, child, cols in (
        (r[0], r[3], r[1], r[2]) for r in conn.execute(FOREIGN_KEYS, (schema,))
    ):
        lines.append(f'    {cols} ||--o{{ {child} : "{name} ({", ".join(columns)})"')
    for table in tables.values():
        lines.append(f"    {table.name} {{")
        lines.extend(
            f"        {typ} {column} {markers}".rstrip() for column, typ, markers in table.columns
        )
        lines.append("    }")
    return "\n".join(lines) + "\n"


def replace_block(text: str, diagram: str) -> str:
    if BEGIN not in text or END not in text:
        raise ConfigError(f"no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n```mermaid\n{diagram}```\n{END}{tail}"


@click.command()
@click.option("--dsn", help="Connection string (else DATABASE_URL, else the PG* variables).")
@click.option("--schema", default="mapper", show_default=True)
@click.option(
    "--write",
    "target",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help=f"Replace the {BEGIN} block of this Markdown file instead of printing.",
)
def erd(dsn: str | None, schema: str, target: Path | None) -> None:
    """Print a Mermaid ER diagram of the live catalog (or write it into a Markdown file)."""
    with Connector(resolve_conninfo(dsn)).connect() as conn:
        if conn.execute("select to_regnamespace(%s)", (schema,)).fetchone() == (None,):
            raise ConfigError(f"--schema {schema}: no such schema in this database")
        diagram = mermaid_erd(conn, schema)
    if target is None:
        click.echo(diagram, nl=False)
        return
    target.write_text(replace_block(target.read_text(), diagram))
    click.echo(f"wrote the ER diagram of schema {schema} into {target}")
