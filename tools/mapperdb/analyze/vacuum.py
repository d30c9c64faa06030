"""Space and vacuum: bloat estimates, autovacuum falling behind, wraparound, sequences."""

from __future__ import annotations

from mapperdb.analyze.model import Check, Context, check
from mapperdb.findings import Finding, Severity

WRAPAROUND = 2**31

# Dead rows against PostgreSQL's own trigger point for autovacuum (threshold + scale factor x
# rows, with per-table overrides), readable with pg_read_all_stats.
TABLES = """
select s.relid::regclass::text, s.n_live_tup, s.n_dead_tup, pg_table_size(s.relid),
    greatest(s.last_autovacuum, s.last_vacuum),
    coalesce((select option_value::int from pg_options_to_table(c.reloptions)
              where option_name = 'autovacuum_vacuum_threshold'),
             current_setting('autovacuum_vacuum_threshold')::int)
    + coalesce((select option_value::float8 from pg_options_to_table(c.reloptions)
                where option_name = 'autovacuum_vacuum_scale_factor'),
               current_setting('autovacuum_vacuum_scale_factor')::float8)
      * greatest(c.reltuples, 0) as trigger_point,
    coalesce((select option_value from pg_options_to_table(c.reloptions)
              where option_name = 'autovacuum_enabled'), 'true') as autovacuum
from pg_stat_all_tables s join pg_class c on c.oid = s.relid
where c.relnamespace = to_regnamespace(%(schema)s) and c.relkind in ('r', 'm')
order by 1
"""


@check(
    "AN007",
    "table-bloat",
    Severity.WARNING,
    "A table whose estimated dead space is a large share of its size",
    why="Dead rows take pages that every sequential scan reads and the cache holds; past a point "
    "only VACUUM FULL or pg_repack gives the space back.",
    fix="Find what holds vacuum back (long transactions, AN016; disabled autovacuum, AN009), "
    "let vacuum run; tune autovacuum for the table.",
)
def table_bloat(self: Check, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
    found = []
    for table, live, dead, size, _last, _trigger, _av in ctx.rows(TABLES, {"schema": ctx.schema}):
        share = dead / (live + dead) if live + dead else 0.0
        if share >= t.bloat_ratio and size >= t.bloat_min_bytes:
            found.append(
                self.finding(
                    table,
                    f"about {share:.0%} of {table} is dead rows",
                    evidence=f"n_live_tup={live}, n_dead_tup={dead}, size {size // 1024} kB",
                )
            )
    return found


# The btree's minimal size from its rows and key widths (fixed-width types by length, others by
# their average width in pg_stats when readable, else 32 bytes), at the default fill factor.
INDEX_SIZES = """
select i.indexrelid::regclass::text, c.reltuples, pg_relation_size(i.indexrelid),
    (select coalesce(sum(case when t.typlen > 0 then t.typlen
                              else coalesce(st.avg_width, 32) end), 8)
     from unnest(i.indkey) k(attnum)
     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
     join pg_type t on t.oid = a.atttypid
     left join pg_stats st on st.schemaname = %(schema)s and st.tablename = r.relname
         and st.attname = a.attname)
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_class r on r.oid = i.indrelid
join pg_am am on am.oid = c.relam and am.amname = 'btree'
where r.relnamespace = to_regnamespace(%(schema)s) and c.relkind = 'i'
order by 1
"""
PAGE = 8192
BTREE_FILL = 0.9
TUPLE_OVERHEAD = 16  # index tuple header, item pointer, alignment


@check(
    "AN008",
    "index-bloat",
    Severity.WARNING,
    "A btree index much larger than its rows need",
    why="Deleted and updated rows leave index pages half empty until the index is rebuilt; a "
    "bloated index is slower to scan and to keep in cache.",
    fix="reindex index concurrently <index> (PostgreSQL 12+), in a quiet hour.",
)
def index_bloat(self: Check, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
    found = []
    for index, rows, size, width in ctx.rows(INDEX_SIZES, {"schema": ctx.schema}):
        if size < t.bloat_min_bytes:
            continue
        needed = max(rows, 0) * (float(width) + TUPLE_OVERHEAD) / BTREE_FILL + PAGE
        share = 1 - needed / size
        if share >= t.bloat_ratio:
            found.append(
                self.finding(
                    index,
                    f"about {share:.0%} of {index} is estimated empty",
                    evidence=f"{size // 1024} kB for about {max(rows, 0):.0f} rows of "
                    f"{float(width):.0f}-byte keys (minimal about {needed / 1024:.0f} kB)",
                    fix=f"reindex index concurrently {index}",
                )
            )
    return found


@check(
    "AN009",
    "autovacuum-behind",
    Severity.WARNING,
    "A table with more dead rows than its autovacuum trigger point, not vacuumed",
    why="Autovacuum should have run: it is off for the table, cannot keep up, or is blocked by "
    "a long transaction. Dead rows grow the table and slow every scan.",
    fix="Check autovacuum_enabled on the table, long transactions (AN016) and "
    "autovacuum_max_workers; run VACUUM (VERBOSE) on the table to see what it cannot remove.",
)
def autovacuum_behind(self: Check, ctx: Context) -> list[Finding]:
    found = []
    for table, _live, dead, _size, last, trigger, enabled in ctx.rows(
        TABLES, {"schema": ctx.schema}
    ):
        if dead > trigger and dead > 0:
            when = f"{last:%Y-%m-%d %H:%M} UTC" if last else "never"
            found.append(
                self.finding(
                    table,
                    f"{table} has {dead} dead rows, past its autovacuum trigger point",
                    evidence=f"n_dead_tup={dead} > {trigger:.0f}; last vacuum {when}; "
                    f"autovacuum_enabled={enabled}",
                )
            )
    return found


@check(
    "AN010",
    "xid-wraparound",
    Severity.WARNING,
    "Transaction ID age near the wraparound limit",
    why="At 2^31 transactions PostgreSQL stops accepting writes to protect the data until the "
    "oldest tables are frozen by VACUUM, an outage that can last hours.",
    fix="Run VACUUM (FREEZE) on the oldest tables listed; find what prevented autovacuum's "
    "anti-wraparound runs (long transactions, replication slots, prepared transactions).",
)
def wraparound(self: Check, ctx: Context) -> list[Finding]:
    t = ctx.thresholds
    rows = ctx.rows(
        "select datname, age(datfrozenxid) from pg_database where datname = current_database()"
    )
    found = []
    for datname, age in rows:
        share = age / WRAPAROUND
        if share >= t.xid_warning:
            oldest = ctx.rows(
                "select c.oid::regclass::text, age(c.relfrozenxid) from pg_class c"
                " where c.relkind in ('r', 'm', 't') order by 2 desc limit 3"
            )
            found.append(
                self.finding(
                    str(datname),
                    f"transaction ID age is {share:.1%} of the wraparound limit",
                    evidence=f"age(datfrozenxid)={age}; oldest: "
                    + ", ".join(f"{name} ({a})" for name, a in oldest),
                    severity=Severity.ERROR if share >= t.xid_error else Severity.WARNING,
                )
            )
    return found


@check(
    "AN011",
    "sequence-exhaustion",
    Severity.WARNING,
    "A sequence or identity that has used most of its range",
    why="When a sequence reaches its maximum every insert that needs a value fails.",
    fix="alter sequence ... as bigint (and the column to bigint) in a migration, before it runs "
    "out; identities of tenant rows here are UUIDs.",
)
def sequences(self: Check, ctx: Context) -> list[Finding]:
    # last_value is null when the sequence was never used or the login may not read it.
    rows = ctx.rows(
        "select format('%%I.%%I', schemaname, sequencename), last_value, min_value, max_value,"
        " increment_by from pg_sequences where last_value is not null and not cycle"
    )
    found = []
    for name, last, low, high, step in rows:
        used = (last - low) / (high - low) if step > 0 else (high - last) / (high - low)
        if used >= ctx.thresholds.sequence_warning:
            found.append(
                self.finding(
                    name,
                    f"sequence {name} has used {used:.0%} of its range",
                    evidence=f"last_value={last}, range {low}..{high}",
                    severity=Severity.ERROR if used >= 0.95 else Severity.WARNING,
                )
            )
    return found
