"""Where `mapperdb lint` and squawk agree and differ, case by case.

    .venv/bin/python bench/lint/agreement.py [--no-docs]

Each case is a small migration written for this benchmark from one of squawk's documented rules
(what the rule is about, not its text). Both tools lint it: squawk sees the migration file alone,
as it always does (`--assume-in-transaction` unless the file is `-- mapperdb:no-transaction`,
because the runner wraps every other migration in a transaction); mapperdb sees it as the second
migration of a set whose first one is ``setup``. The table says what each reported for the rule
in question and, where they differ, why. A case whose outcome no longer matches its expectation
is marked, so the explanation is never silently stale.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _common import ensure_squawk, run, update_doc

from mapperdb.lint.api import lint

ORDERS = (
    "create table mapper.orders (\n"
    "    id bigint generated always as identity primary key,\n"
    "    customer_id bigint not null,\n"
    "    note varchar(200),\n"
    "    qty integer\n"
    ");\n"
)
CUSTOMERS = "create table mapper.customers (id bigint generated always as identity primary key);\n"
EVENTS = (
    "create table mapper.events (at timestamptz not null) partition by range (at);\n"
    "create table mapper.events_2026 partition of mapper.events\n"
    "    for values from ('2026-01-01') to ('2027-01-01');\n"
)
TENANT = (
    "create table mapper.reviews (\n"
    "    tenant_id uuid not null,\n"
    "    id bigint generated always as identity,\n"
    "    constraint reviews_pk primary key (tenant_id, id)\n"
    ");\n"
)
NO_TX = "-- mapperdb:no-transaction\n"


@dataclass(frozen=True)
class Case:
    name: str
    squawk: tuple[str, ...]  # squawk rule names that count as "squawk flagged it"
    ours: tuple[str, ...]  # mapperdb rule ids that count as "mapperdb flagged it"
    sql: str
    setup: str = ORDERS
    why: str = ""  # why the tools differ; empty where they are expected to agree


CASES = [
    Case(
        "index on an existing table",
        ("require-concurrent-index-creation",),
        ("LOCK001",),
        "create index orders_customer_idx on mapper.orders (customer_id);\n",
    ),
    Case(
        "index on a table created in the same migration",
        ("require-concurrent-index-creation",),
        ("LOCK001",),
        CUSTOMERS.replace("customers", "invoices")
        + "create index invoices_id_idx on mapper.invoices (id);\n",
    ),
    Case(
        "concurrent index in a no-transaction migration",
        ("require-concurrent-index-creation", "ban-concurrent-index-creation-in-transaction"),
        ("LOCK001", "LOCK011"),
        NO_TX + "create index concurrently orders_customer_idx on mapper.orders (customer_id);\n",
    ),
    Case(
        "concurrent index inside a transaction",
        ("ban-concurrent-index-creation-in-transaction",),
        ("LOCK011",),
        "create index concurrently orders_customer_idx on mapper.orders (customer_id);\n",
        why="squawk reports this only after an explicit BEGIN in the file, even with "
        "--assume-in-transaction; mapperdb knows from the file's header whether the runner "
        "wraps it in a transaction, and the migration would fail when applied.",
    ),
    Case(
        "drop index of an existing table",
        ("require-concurrent-index-deletion",),
        ("LOCK002",),
        "drop index mapper.orders_note_idx;\n",
        setup=ORDERS + "create index orders_note_idx on mapper.orders (note);\n",
    ),
    Case(
        "CHECK without NOT VALID",
        ("constraint-missing-not-valid",),
        ("LOCK004",),
        "alter table mapper.orders add constraint orders_qty_check check (qty > 0);\n",
    ),
    Case(
        "CHECK NOT VALID, validated in the same transaction",
        ("constraint-missing-not-valid",),
        ("LOCK004",),
        "alter table mapper.orders add constraint orders_qty_check check (qty > 0) not valid;\n"
        "alter table mapper.orders validate constraint orders_qty_check;\n",
    ),
    Case(
        "CHECK NOT VALID, validated in autocommit",
        ("constraint-missing-not-valid",),
        ("LOCK004",),
        NO_TX
        + "alter table mapper.orders add constraint orders_qty_check check (qty > 0) not valid;\n"
        "alter table mapper.orders validate constraint orders_qty_check;\n",
    ),
    Case(
        "foreign key without NOT VALID",
        ("adding-foreign-key-constraint", "constraint-missing-not-valid"),
        ("LOCK003",),
        "alter table mapper.orders add constraint orders_customer_fk\n"
        "    foreign key (customer_id) references mapper.customers (id);\n",
        setup=ORDERS + CUSTOMERS,
    ),
    Case(
        "SET NOT NULL on an existing column",
        ("adding-not-nullable-field",),
        ("LOCK005",),
        "alter table mapper.orders alter column note set not null;\n",
    ),
    Case(
        "SET NOT NULL after a CHECK validated by an earlier migration",
        ("adding-not-nullable-field",),
        ("LOCK005",),
        "alter table mapper.orders alter column note set not null;\n",
        setup=ORDERS + "alter table mapper.orders\n"
        "    add constraint orders_note_nn check (note is not null) not valid;\n"
        "alter table mapper.orders validate constraint orders_note_nn;\n",
        why="an earlier migration validated `check (note is not null)`, so PostgreSQL 12+ "
        "skips the scan; mapperdb replays that migration, squawk sees this file alone.",
    ),
    Case(
        "column type change that rewrites",
        ("changing-column-type",),
        ("LOCK006",),
        "alter table mapper.orders alter column customer_id type text;\n",
    ),
    Case(
        "varchar(n) widened to text",
        ("changing-column-type",),
        ("LOCK006",),
        "alter table mapper.orders alter column note type text;\n",
        why="varchar to text is binary-coercible: PostgreSQL changes the catalog only, no "
        "rewrite, no long lock. mapperdb knows the old type from the earlier migration; squawk "
        "cannot, so it flags every type change.",
    ),
    Case(
        "column with a volatile default",
        ("adding-field-with-default",),
        ("LOCK007",),
        "alter table mapper.orders add column public_id uuid default gen_random_uuid();\n",
    ),
    Case(
        "column with a constant default",
        ("adding-field-with-default",),
        ("LOCK007",),
        "alter table mapper.orders add column region text default 'eu';\n",
    ),
    Case(
        "column defaulting to now()",
        ("adding-field-with-default",),
        ("LOCK007",),
        "alter table mapper.orders add column added_at timestamptz default now();\n",
    ),
    Case(
        "NOT NULL column without a default",
        ("adding-required-field",),
        ("LOCK014",),
        "alter table mapper.orders add column region text not null;\n",
    ),
    Case(
        "serial primary key added to an existing table",
        ("adding-serial-primary-key-field",),
        ("LOCK007", "LOCK008"),
        "alter table mapper.customers add column n bigserial primary key;\n",
        setup=CUSTOMERS.replace(" generated always as identity primary key", ""),
    ),
    Case(
        "UNIQUE constraint without an index",
        ("disallowed-unique-constraint",),
        ("LOCK008",),
        "alter table mapper.orders add constraint orders_note_key unique (note);\n",
    ),
    Case(
        "UNIQUE constraint using a concurrent index",
        ("disallowed-unique-constraint",),
        ("LOCK008",),
        "alter table mapper.orders add constraint orders_note_key unique using index orders_n;\n",
        setup=ORDERS + "create unique index orders_n on mapper.orders (note);\n",
    ),
    Case(
        "drop column",
        ("ban-drop-column",),
        ("LOCK009",),
        "alter table mapper.orders drop column note;\n",
    ),
    Case("drop table", ("ban-drop-table",), ("LOCK009",), "drop table mapper.orders;\n"),
    Case(
        "rename column",
        ("renaming-column",),
        ("LOCK010",),
        "alter table mapper.orders rename column note to remark;\n",
    ),
    Case(
        "rename table",
        ("renaming-table",),
        ("LOCK010",),
        "alter table mapper.orders rename to purchases;\n",
    ),
    Case(
        "TRUNCATE ... CASCADE",
        ("ban-truncate-cascade",),
        ("LOCK012",),
        "truncate mapper.orders cascade;\n",
    ),
    Case(
        "VACUUM FULL",
        ("prefer-repack",),
        ("LOCK013",),
        "vacuum full mapper.orders;\n",
        why="squawk's rule for it is opt-in (not run by default); mapperdb always flags it.",
    ),
    Case(
        "REINDEX without CONCURRENTLY",
        ("require-concurrent-reindex",),
        ("LOCK013",),
        "reindex table mapper.orders;\n",
    ),
    Case(
        "DETACH PARTITION without CONCURRENTLY",
        ("require-concurrent-partition-detach",),
        ("LOCK015",),
        "alter table mapper.events detach partition mapper.events_2026;\n",
        setup=EVENTS,
    ),
    Case(
        "timestamp without time zone",
        ("prefer-timestamp-tz",),
        ("TYPE001",),
        "alter table mapper.orders add column shipped_at timestamp;\n",
    ),
    Case(
        "varchar(n) column",
        ("prefer-text-field",),
        ("TYPE002",),
        "alter table mapper.orders add column sku varchar(32);\n",
    ),
    Case(
        "char(n) column",
        ("ban-char-field",),
        ("TYPE002",),
        "alter table mapper.orders add column country char(2);\n",
    ),
    Case(
        "serial column",
        ("prefer-identity",),
        ("TYPE003",),
        "create table mapper.jobs (id serial primary key);\n",
    ),
    Case(
        "integer primary key",
        ("prefer-bigint-over-int",),
        ("TYPE004",),
        "create table mapper.jobs (id integer generated always as identity primary key);\n",
    ),
    Case(
        "integer non-key column",
        ("prefer-bigint-over-int",),
        ("TYPE004",),
        "alter table mapper.orders add column attempts integer;\n",
        why="mapperdb asks for bigint only in keys, which grow without bound; a counter or "
        "quantity column is fine as integer. squawk flags every int column.",
    ),
    Case(
        "json column",
        (),
        ("TYPE005",),
        "alter table mapper.orders add column meta json;\n",
        why="squawk has no rule about json vs jsonb.",
    ),
    Case(
        "DROP NOT NULL",
        ("ban-drop-not-null",),
        (),
        "alter table mapper.orders alter column customer_id drop not null;\n",
        why="a compatibility concern, not a lock or security risk: left to review in mapperdb.",
    ),
    Case(
        "BEGIN/COMMIT inside a migration",
        ("transaction-nesting",),
        ("HYG005",),
        "begin;\nalter table mapper.orders add column tag text;\ncommit;\n",
    ),
    Case(
        "missing lock_timeout",
        ("require-timeout-settings", "require-lock-timeout"),
        (),
        "alter table mapper.orders add column tag text;\n",
        why="the migration runner sets lock and statement timeouts itself (header directives "
        "`-- mapperdb:lock-timeout`), so mapperdb does not ask each file to.",
    ),
    Case(
        "CREATE TABLE without IF NOT EXISTS",
        ("prefer-robust-stmts",),
        (),
        "create table mapper.jobs (id bigint generated always as identity primary key);\n",
    ),
    Case(
        "tenant table without row-level security",
        (),
        ("TEN001",),
        TENANT,
        why="squawk has no tenant-security rules; mapperdb judges RLS on the final schema.",
    ),
    Case(
        "policy USING (true)",
        (),
        ("TEN003",),
        TENANT + "create policy reviews_all on mapper.reviews using (true);\n",
        why="squawk has no tenant-security rules.",
    ),
    Case(
        "GRANT to PUBLIC",
        (),
        ("TEN010",),
        "grant select on mapper.orders to public;\n",
        why="squawk has no privilege rules.",
    ),
]


def squawk_rules(squawk: Path, case: Case, directory: Path) -> set[str]:
    path = directory / "change.sql"
    path.write_text(case.sql, "utf-8")
    flags = [] if case.sql.startswith(NO_TX) else ["--assume-in-transaction"]
    done = run([str(squawk), "--reporter", "json", *flags, str(path)], directory)
    return {v["rule_name"] for v in json.loads(done.stdout or "[]")}


def mapperdb_rules(case: Case, directory: Path) -> set[str]:
    migrations = directory / "migrations"
    migrations.mkdir()
    files = {
        "0001_setup.up.sql": case.setup,
        "0001_setup.down.sql": "select 1;\n",
        "0002_change.up.sql": case.sql,
        "0002_change.down.sql": "select 1;\n",
    }
    for name, text in files.items():
        (migrations / name).write_text(text, "utf-8")
    findings = lint([migrations / "0002_change.up.sql"], style=False).findings
    return {f.rule for f in findings}


def mark(flagged: set[str], wanted: tuple[str, ...]) -> str:
    hits = sorted(flagged & set(wanted))
    return ", ".join(hits) if hits else "-"


def table() -> tuple[str, int]:
    squawk = ensure_squawk()
    rows, agreed, stale = [], 0, 0
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            theirs = mark(squawk_rules(squawk, case, Path(tmp)), case.squawk)
            os.chdir(tmp)
            ours = mark(mapperdb_rules(case, Path(tmp)), case.ours)
        same = (theirs == "-") == (ours == "-")
        agreed += same
        note = case.why
        if same == bool(case.why):
            stale += 1
            note = "**unexpected outcome: re-check this case** " + note
        verdict = "agree" if same else "differ"
        rows.append(f"| {case.name} | {theirs} | {ours} | {verdict} | {note} |")
    lines = [
        "### Agreement with squawk",
        "",
        "Reproduce: `.venv/bin/python bench/lint/agreement.py`. Cases written for this benchmark "
        "from squawk's documented rules; squawk-cli 2.70.0 with its default rules.",
        f"They agree on {agreed} of {len(CASES)} cases (flag both, or stay quiet both).",
        "",
        "| case | squawk | mapperdb | | why they differ |",
        "|---|---|---|---|---|",
        *rows,
    ]
    return "\n".join(lines), stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args()
    cwd = Path.cwd()
    text, stale = table()
    os.chdir(cwd)
    print(text)
    if not args.no_docs:
        update_doc("lint-agreement", text)
    if stale:
        raise SystemExit(f"bench: {stale} case(s) no longer match their expected outcome")


if __name__ == "__main__":
    main()
