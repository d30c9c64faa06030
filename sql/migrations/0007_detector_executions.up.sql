-- Detector runs (the seed's DetectorExecution), partitioned by month of started_at. A run is
-- 'running' until it finishes; duration is derived, never supplied; an error code is only
-- allowed on a failed or timed-out run.
set local role mapper_owner;

create table mapper.detector_executions (
    tenant_id uuid not null,
    id bigint generated always as identity,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    duration interval generated always as (finished_at - started_at) stored,
    detector_type text not null,
    status text not null default 'running',
    error_code text,
    correlation_id text not null,
    constraint detector_executions_pk primary key (tenant_id, started_at, id),
    constraint detector_executions_tenant_fk foreign key (tenant_id)
        references mapper.tenant_configs (tenant_id),
    constraint detector_executions_detector_type_check
        check (detector_type ~ '^[a-z][a-z0-9_]*$' and char_length(detector_type) <= 63),
    constraint detector_executions_status_check
        check (status in ('running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
    constraint detector_executions_finished_check check (
        case when status = 'running' then finished_at is null
        else finished_at is not null and finished_at >= started_at end
    ),
    constraint detector_executions_error_code_check check (
        case when status in ('failed', 'timed_out')
            then coalesce(error_code ~ '^[A-Z][A-Z0-9_]*$' and char_length(error_code) <= 64, false)
        else error_code is null end
    ),
    constraint detector_executions_correlation_id_check
        check (correlation_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]*$' and char_length(correlation_id) <= 128)
) partition by range (started_at);

comment on table mapper.detector_executions is 'One row per detector run: status, timing, error.';
comment on index mapper.detector_executions_pk is
    'Serves a tenant''s latest executions and covers detector_executions_tenant_fk.';

create index detector_executions_status_idx
    on mapper.detector_executions (tenant_id, status, started_at);
comment on index mapper.detector_executions_status_idx is
    'Serves a tenant''s executions by status (running or failed runs of a period).';

create index detector_executions_detector_time_idx
    on mapper.detector_executions (tenant_id, detector_type, started_at);
comment on index mapper.detector_executions_detector_time_idx is
    'Serves failure rates by detector and period (detector_failure_rates()).';

create index detector_executions_correlation_idx
    on mapper.detector_executions (tenant_id, correlation_id);
comment on index mapper.detector_executions_correlation_idx is
    'Serves a tenant''s executions by correlation id (joining a run to its storage records).';

alter table mapper.detector_executions enable row level security;
alter table mapper.detector_executions force row level security;

create policy detector_executions_app_select on mapper.detector_executions
    for select to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy detector_executions_app_insert on mapper.detector_executions
    for insert to mapper_app
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy detector_executions_app_update on mapper.detector_executions
    for update to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy detector_executions_app_delete on mapper.detector_executions
    for delete to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy detector_executions_readonly_select on mapper.detector_executions
    for select to mapper_readonly
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
-- Retention and the daily aggregates run as mapper_owner in maintenance mode, across tenants.
create policy detector_executions_maintenance_select on mapper.detector_executions
    for select to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');
create policy detector_executions_maintenance_delete on mapper.detector_executions
    for delete to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');

grant select, insert, update, delete on mapper.detector_executions to mapper_app;
grant select on mapper.detector_executions to mapper_readonly;

-- The audit trigger of detector_executions, digest mode (0004): an entry per row
-- version (its key and audit_digest() of its text form), a link per statement and tenant.
-- Static SQL for this table's key: no to_jsonb() of whole rows.
-- The SET clauses pin every setting the text form depends on (a digest is reproducible).
create function mapper.detector_executions_audit()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set datestyle = 'ISO, YMD'
set intervalstyle = 'postgres'
set timezone = 'UTC'
set extra_float_digits = 1
set bytea_output = 'hex'
as $$
declare
    v_tenant uuid;
    v_entries integer;
    v_keys jsonb;
    v_old jsonb;
    v_new jsonb;
begin
    -- One link per tenant and id / 1000 (at most 1000 entries a link, with no sort).
    if tg_op = 'INSERT' then
        for v_tenant, v_entries, v_keys, v_new in
            select n.tenant_id, count(*)::integer,
                jsonb_build_object('started_at', jsonb_agg(n.started_at), 'id', jsonb_agg(n.id)),
                jsonb_agg(mapper.audit_digest(n::text))
            from new_rows as n
            group by n.tenant_id, n.id / 1000
        loop
            perform mapper.audit_append(
                v_tenant, tg_table_name, 'insert', v_entries, v_keys, null, v_new
            );
        end loop;
    elsif tg_op = 'DELETE' then
        for v_tenant, v_entries, v_keys, v_old in
            select o.tenant_id, count(*)::integer,
                jsonb_build_object('started_at', jsonb_agg(o.started_at), 'id', jsonb_agg(o.id)),
                jsonb_agg(mapper.audit_digest(o::text))
            from old_rows as o
            group by o.tenant_id, o.id / 1000
        loop
            perform mapper.audit_append(
                v_tenant, tg_table_name, 'delete', v_entries, v_keys, v_old, null
            );
        end loop;
    else
        -- Old and new versions paired by key; a changed key shows as an entry with one side null.
        for v_tenant, v_entries, v_keys, v_old, v_new in
            select coalesce(n.tenant_id, o.tenant_id), count(*)::integer,
                jsonb_build_object(
                    'started_at', jsonb_agg(coalesce(n.started_at, o.started_at)),
                    'id', jsonb_agg(coalesce(n.id, o.id))
                ),
                jsonb_agg(mapper.audit_digest(o.r)), jsonb_agg(mapper.audit_digest(n.r))
            from (select x.tenant_id, x.started_at, x.id, x::text as r from old_rows as x) as o
            full join (select x.tenant_id, x.started_at, x.id, x::text as r from new_rows as x) as n
                on n.tenant_id = o.tenant_id and n.started_at = o.started_at and n.id = o.id
            group by 1, coalesce(n.id, o.id) / 1000
        loop
            perform mapper.audit_append(
                v_tenant, tg_table_name, 'update', v_entries, v_keys, v_old, v_new
            );
        end loop;
    end if;
    return null;
end
$$;

comment on function mapper.detector_executions_audit() is
    'Statement-level audit trigger of detector_executions (transition tables), digest mode.';

create trigger detector_executions_audit_insert
    after insert on mapper.detector_executions
    referencing new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.detector_executions_audit();
create trigger detector_executions_audit_update
    after update on mapper.detector_executions
    referencing old table as old_rows new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.detector_executions_audit();
create trigger detector_executions_audit_delete
    after delete on mapper.detector_executions
    referencing old table as old_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.detector_executions_audit();

select count(*) from mapper.maintain_partitions();

reset role;
