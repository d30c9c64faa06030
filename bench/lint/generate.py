"""Writes a corpus of realistic migrations for the SQL gate benchmarks.

    .venv/bin/python bench/lint/generate.py [--count 200] [--out bench/out/lint-corpus]

The corpus is a small repository: ``sql/migrations`` with ``count`` up/down pairs in the shapes
this platform's migrations take (tenant tables with RLS, indexes built concurrently in
no-transaction files, constraints added NOT VALID then validated, security_invoker views,
functions, partitions, grants), about one in ten with a deliberate mistake, and the project's
``.sqlfluff``. The content is a pure function of ``--seed``, so runs are comparable.
"""

from __future__ import annotations

import argparse
import random
import shutil
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
Migration = tuple[str, str, str]  # slug, up, down


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tables: list[str] = []
        self.columns: dict[str, list[str]] = {}
        self.serial = 0

    def _name(self, stem: str) -> str:
        self.serial += 1
        return f"{stem}_{self.serial:03d}"

    def tenant_table(self) -> Migration:
        name = self._name(self.rng.choice(["detector_runs", "mappings", "evidence", "reviews"]))
        self.tables.append(name)
        self.columns[name] = []
        t = f"mapper.{name}"
        tenant = "(select current_setting('app.tenant_id')::uuid)"
        up = f"""\
-- {name}: one row per {name.split("_")[0]} of a tenant; isolated by row-level security.
create table {t} (
    tenant_id uuid not null,
    id bigint generated always as identity,
    detector_type text not null,
    payload jsonb not null default '{{}}'::jsonb,
    confidence numeric(5, 4),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint {name}_pk primary key (tenant_id, id),
    constraint {name}_confidence_check check (confidence between 0 and 1),
    constraint {name}_detector_type_check check (char_length(detector_type) between 1 and 100)
);

comment on table {t} is 'Rows of {name}, one tenant each; see docs/schema.md.';
comment on column {t}.payload is 'Detector output as received, validated by the application.';

create index {name}_tenant_created_idx on {t} (tenant_id, created_at);

alter table {t} enable row level security;
alter table {t} force row level security;

create policy {name}_tenant on {t} for all to mapper_app
    using (tenant_id = {tenant})
    with check (tenant_id = {tenant});

grant select, insert, update, delete on {t} to mapper_app;
grant select on {t} to mapper_readonly;
"""
        return f"create_{name}", up, f"drop table {t};\n"

    def add_column(self) -> Migration:
        table = self.rng.choice(self.tables)
        column = self._name("note")
        self.columns[table].append(column)
        t = f"mapper.{table}"
        up = f"""\
-- mapperdb:no-transaction
-- Adds {column} to {table}: free-text reviewer notes, nullable so old rows need no backfill.
-- Autocommit, so the CHECK is validated after the ADD's lock is released.
alter table {t} add column {column} text;
comment on column {t}.{column} is 'Reviewer note; at most 2000 characters.';
alter table {t}
    add constraint {table}_{column}_length check (char_length({column}) <= 2000) not valid;
alter table {t} validate constraint {table}_{column}_length;
"""
        down = f"alter table {t} drop column {column};\n"
        return f"add_{column}", up, down

    def concurrent_index(self) -> Migration:
        table = self.rng.choice(self.tables)
        name = self._name(f"{table}_detector")
        up = f"""\
-- mapperdb:no-transaction
-- mapperdb:lock-timeout 5s
-- Serves the per-detector listing of {table}; built online.
create index concurrently {name}_idx
    on mapper.{table} (tenant_id, detector_type, created_at);
"""
        down = f"-- mapperdb:no-transaction\ndrop index concurrently mapper.{name}_idx;\n"
        return f"index_{name}", up, down

    def view(self) -> Migration:
        table = self.rng.choice(self.tables)
        name = self._name(f"{table}_daily")
        up = f"""\
-- Daily counts of {table} per tenant, read by the reporting API as the caller.
create view mapper.{name} with (security_invoker = true) as
    select
        tenant_id,
        date_trunc('day', created_at) as day,
        count(*) as records,
        avg(confidence) as avg_confidence
    from mapper.{table}
    group by tenant_id, date_trunc('day', created_at);

grant select on mapper.{name} to mapper_app, mapper_readonly;
"""
        return f"view_{name}", up, f"drop view mapper.{name};\n"

    def function(self) -> Migration:
        table = self.rng.choice(self.tables)
        name = self._name(f"touch_{table}")
        up = f"""\
-- Keeps {table}.updated_at current on every update.
create function mapper.{name}() returns trigger
    language plpgsql
    set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create trigger {name}_trg before update on mapper.{table}
    for each row execute function mapper.{name}();
"""
        down = f"drop trigger {name}_trg on mapper.{table};\ndrop function mapper.{name}();\n"
        return f"fn_{name}", up, down

    def partitioned(self) -> Migration:
        name = self._name("metric_points")
        self.tables.append(name)
        self.columns[name] = []
        t = f"mapper.{name}"
        months = "\n".join(
            f"create table {t}_2026_{m:02d} partition of {t}\n"
            f"    for values from ('2026-{m:02d}-01') to ('{2026 + m // 12}-{m % 12 + 1:02d}-01');"
            for m in range(1, 7)
        )
        tenant = "(select current_setting('app.tenant_id')::uuid)"
        up = f"""\
-- {name}: time series, range-partitioned by month; partitions get no grants.
create table {t} (
    tenant_id uuid not null,
    id bigint generated always as identity,
    detector_type text not null,
    payload jsonb not null default '{{}}'::jsonb,
    confidence numeric(5, 4),
    created_at timestamptz not null,
    updated_at timestamptz not null default now(),
    constraint {name}_pk primary key (tenant_id, id, created_at)
) partition by range (created_at);

{months}

alter table {t} enable row level security;
alter table {t} force row level security;
create policy {name}_tenant on {t} for all to mapper_app
    using (tenant_id = {tenant})
    with check (tenant_id = {tenant});
grant select, insert on {t} to mapper_app;
"""
        return f"create_{name}", up, f"drop table {t};\n"

    def mistake(self) -> Migration:
        table = self.rng.choice(self.tables)
        name = self._name("quick_fix")
        kind = self.rng.choice(["index", "varchar", "not_null", "fk"])
        t = f"mapper.{table}"
        up = {
            "index": f"create index {name}_idx on {t} (tenant_id, updated_at);\n",
            "varchar": f"alter table {t} add column {name} varchar(40);\n",
            "not_null": f"alter table {t} alter column confidence set not null;\n",
            "fk": (
                f"alter table {t} add constraint {name}_fk foreign key (tenant_id)\n"
                "    references mapper.tenant_configs (tenant_id);\n"
            ),
        }[kind]
        down = {
            "index": f"drop index mapper.{name}_idx;\n",
            "varchar": f"alter table {t} drop column {name};\n",
            "not_null": f"alter table {t} alter column confidence drop not null;\n",
            "fk": f"alter table {t} drop constraint {name}_fk;\n",
        }[kind]
        return f"{kind}_{name}", f"-- A hurried change ({kind}).\n" + up, down


BASE = """\
-- Tenants: the root every tenant table refers to.
create table mapper.tenant_configs (
    tenant_id uuid not null,
    display_name text not null,
    settings jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    constraint tenant_configs_pk primary key (tenant_id)
);
alter table mapper.tenant_configs enable row level security;
alter table mapper.tenant_configs force row level security;
create policy tenant_configs_tenant on mapper.tenant_configs for all to mapper_app
    using (tenant_id = (select current_setting('app.tenant_id')::uuid))
    with check (tenant_id = (select current_setting('app.tenant_id')::uuid));
"""


def migrations(count: int, seed: int) -> list[Migration]:
    corpus = Corpus(seed)
    made: list[Migration] = [("tenant_configs", BASE, "drop table mapper.tenant_configs;\n")]
    made.append(corpus.tenant_table())
    weighted: list[tuple[Callable[[], Migration], int]] = [
        (corpus.tenant_table, 3),
        (corpus.add_column, 5),
        (corpus.concurrent_index, 3),
        (corpus.view, 2),
        (corpus.function, 2),
        (corpus.partitioned, 1),
        (corpus.mistake, 2),
    ]
    makers = [maker for maker, weight in weighted for _ in range(weight)]
    while len(made) < count:
        made.append(corpus.rng.choice(makers)())
    return made


def write(out: Path, count: int, seed: int) -> Path:
    directory = out / "sql" / "migrations"
    if out.exists():
        shutil.rmtree(out)
    directory.mkdir(parents=True)
    shutil.copy(ROOT / ".sqlfluff", out / ".sqlfluff")
    for version, (slug, up, down) in enumerate(migrations(count, seed), start=1):
        (directory / f"{version:04d}_{slug}.up.sql").write_text(up, "utf-8")
        (directory / f"{version:04d}_{slug}.down.sql").write_text(down, "utf-8")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "lint-corpus")
    args = parser.parse_args()
    directory = write(args.out, args.count, args.seed)
    print(f"wrote {args.count} migrations to {directory}")


if __name__ == "__main__":
    main()
