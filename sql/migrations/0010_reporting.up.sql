-- Compliance reporting. Per-tenant functions run with the caller's rights, so RLS limits them to
-- the tenant in context. Daily aggregates across tenants live in materialized views owned by
-- mapper_owner, refreshed concurrently by refresh_daily_aggregates() (pg_cron, 0011); no
-- application role may read them: tenants reach their own aggregates only through the
-- tenant-filtering SECURITY DEFINER functions daily_records() and daily_executions().
set local role mapper_owner;

create function mapper.records_by_detector(
    p_from timestamptz, p_to timestamptz, p_bucket text default 'day'
)
returns table (
    period timestamptz, detector_type text, taxonomy_label text, records bigint,
    avg_confidence double precision
)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select date_trunc(p_bucket, s.created_at), s.detector_type, l.label, count(*),
        avg(s.confidence_score)
    from mapper.storage_records as s
    cross join lateral unnest(s.taxonomy_labels) as l (label)
    where s.tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and s.created_at >= p_from and s.created_at < p_to
        and p_bucket in ('hour', 'day', 'week', 'month')
    group by 1, 2, 3
    order by 1, 2, 3
$$;

comment on function mapper.records_by_detector(timestamptz, timestamptz, text) is
    'The tenant''s records by detector, taxonomy label and period (hour, day, week or month).';

create function mapper.audit_activity(
    p_from timestamptz, p_to timestamptz, p_bucket text default 'day'
)
returns table (period timestamptz, actor text, action text, table_name text, events bigint)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select date_trunc(p_bucket, a.occurred_at), coalesce(a.actor, a.db_user), a.action,
        a.table_name, sum(a.entries)::bigint
    from mapper.audit_records as a
    where a.tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and a.occurred_at >= p_from and a.occurred_at < p_to
        and p_bucket in ('hour', 'day', 'week', 'month')
    group by 1, 2, 3, 4
    order by 1, 2, 3, 4
$$;

comment on function mapper.audit_activity(timestamptz, timestamptz, text) is
    'The tenant''s audit trail by actor, action, table and period: events are rows changed '
    '(a link''s entries; a row whose key changed counts twice) and purges.';

create function mapper.detector_failure_rates(p_from timestamptz, p_to timestamptz)
returns table (
    detector_type text, executions bigint, failures bigint, failure_rate double precision
)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select e.detector_type, count(*),
        count(*) filter (where e.status in ('failed', 'timed_out')),
        (count(*) filter (where e.status in ('failed', 'timed_out')))::double precision
            / count(*)
    from mapper.detector_executions as e
    where e.tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and e.started_at >= p_from and e.started_at < p_to
        and e.status <> 'running'
    group by e.detector_type
    order by e.detector_type
$$;

comment on function mapper.detector_failure_rates(timestamptz, timestamptz) is
    'The tenant''s finished executions, failures (failed or timed out) and failure rate by detector.';

grant execute on function mapper.records_by_detector(timestamptz, timestamptz, text)
    to mapper_app, mapper_readonly, mapper_auditor;
grant execute on function mapper.detector_failure_rates(timestamptz, timestamptz)
    to mapper_app, mapper_readonly, mapper_auditor;
grant execute on function mapper.audit_activity(timestamptz, timestamptz, text) to mapper_auditor;

create materialized view mapper.storage_records_daily_mv as
    select s.tenant_id, date_trunc('day', s.created_at, 'UTC')::date as day, s.detector_type,
        count(*) as records, avg(s.confidence_score) as avg_confidence
    from mapper.storage_records as s
    group by 1, 2, 3
with data;

create unique index storage_records_daily_mv_key_idx
    on mapper.storage_records_daily_mv (tenant_id, day, detector_type);
comment on index mapper.storage_records_daily_mv_key_idx is
    'Required by refresh concurrently; serves daily_records() (one tenant, a range of days).';
comment on materialized view mapper.storage_records_daily_mv is
    'Daily records per tenant and detector (UTC days). Owner only: tenants use daily_records().';

create materialized view mapper.detector_executions_daily_mv as
    select e.tenant_id, date_trunc('day', e.started_at, 'UTC')::date as day, e.detector_type,
        count(*) as executions,
        count(*) filter (where e.status in ('failed', 'timed_out')) as failures,
        avg(extract(epoch from e.duration)) as avg_duration_seconds
    from mapper.detector_executions as e
    group by 1, 2, 3
with data;

create unique index detector_executions_daily_mv_key_idx
    on mapper.detector_executions_daily_mv (tenant_id, day, detector_type);
comment on index mapper.detector_executions_daily_mv_key_idx is
    'Required by refresh concurrently; serves daily_executions() (one tenant, a range of days).';
comment on materialized view mapper.detector_executions_daily_mv is
    'Daily executions and failures per tenant and detector. Owner only: use daily_executions().';

create function mapper.refresh_daily_aggregates()
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform set_config('mapper.maintenance', 'on', true);
    refresh materialized view concurrently mapper.storage_records_daily_mv;
    refresh materialized view concurrently mapper.detector_executions_daily_mv;
    perform set_config('mapper.maintenance', '', true);
end
$$;

comment on function mapper.refresh_daily_aggregates() is
    'Refreshes the daily aggregates concurrently (reads every tenant in maintenance mode). '
    'Scheduled by pg_cron (0011).';

create function mapper.daily_records(p_from date, p_to date)
returns table (
    day date, detector_type text, records bigint, avg_confidence double precision
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select m.day, m.detector_type, m.records, m.avg_confidence
    from mapper.storage_records_daily_mv as m
    where m.tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and m.day >= p_from and m.day < p_to
    order by m.day, m.detector_type
$$;

comment on function mapper.daily_records(date, date) is
    'The tenant''s daily records per detector, from the materialized aggregate (tenant in context only).';

create function mapper.daily_executions(p_from date, p_to date)
returns table (
    day date, detector_type text, executions bigint, failures bigint,
    avg_duration_seconds numeric
)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select m.day, m.detector_type, m.executions, m.failures, m.avg_duration_seconds
    from mapper.detector_executions_daily_mv as m
    where m.tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and m.day >= p_from and m.day < p_to
    order by m.day, m.detector_type
$$;

comment on function mapper.daily_executions(date, date) is
    'The tenant''s daily executions and failures per detector (tenant in context only).';

grant execute on function mapper.refresh_daily_aggregates() to mapper_maintainer;
grant execute on function mapper.daily_records(date, date)
    to mapper_app, mapper_readonly, mapper_auditor;
grant execute on function mapper.daily_executions(date, date)
    to mapper_app, mapper_readonly, mapper_auditor;

reset role;
