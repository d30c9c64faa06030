-- Model quality and latency metrics (the seed's ModelMetric), partitioned by month of
-- recorded_at. Values must be finite numbers; labels are a small flat jsonb object.
set local role mapper_owner;

create table mapper.model_metrics (
    tenant_id uuid not null,
    id bigint generated always as identity,
    recorded_at timestamptz not null default now(),
    model_version text not null,
    detector_type text not null,
    metric_name text not null,
    metric_value double precision not null,
    labels jsonb not null default '{}'::jsonb,
    constraint model_metrics_pk primary key (tenant_id, recorded_at, id),
    constraint model_metrics_tenant_fk foreign key (tenant_id)
        references mapper.tenant_configs (tenant_id),
    constraint model_metrics_model_version_check
        check (model_version ~ '^[A-Za-z0-9][A-Za-z0-9._+-]*$' and char_length(model_version) <= 64),
    constraint model_metrics_detector_type_check
        check (detector_type ~ '^[a-z][a-z0-9_]*$' and char_length(detector_type) <= 63),
    constraint model_metrics_metric_name_check check (
        metric_name ~ '^[a-z][a-z0-9_]*$' and char_length(metric_name) <= 63
    ),
    constraint model_metrics_metric_value_check
        check (metric_value > '-Infinity'::double precision
            and metric_value < 'Infinity'::double precision),
    constraint model_metrics_labels_check check (
        jsonb_typeof(labels) = 'object' and octet_length(labels::text) <= 2048
    )
) partition by range (recorded_at);

comment on table mapper.model_metrics is 'Model metrics per tenant, model version and detector.';
comment on index mapper.model_metrics_pk is
    'Serves a tenant''s latest metrics and covers model_metrics_tenant_fk.';

create index model_metrics_series_idx
    on mapper.model_metrics (tenant_id, model_version, metric_name, recorded_at);
comment on index mapper.model_metrics_series_idx is
    'Serves one metric''s time series for a model version (dashboards, regressions).';

alter table mapper.model_metrics enable row level security;
alter table mapper.model_metrics force row level security;

create policy model_metrics_app_select on mapper.model_metrics
    for select to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy model_metrics_app_insert on mapper.model_metrics
    for insert to mapper_app
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy model_metrics_app_update on mapper.model_metrics
    for update to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy model_metrics_app_delete on mapper.model_metrics
    for delete to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy model_metrics_readonly_select on mapper.model_metrics
    for select to mapper_readonly
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
-- Retention and the daily aggregates run as mapper_owner in maintenance mode, across tenants.
create policy model_metrics_maintenance_select on mapper.model_metrics
    for select to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');
create policy model_metrics_maintenance_delete on mapper.model_metrics
    for delete to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');

grant select, insert, update, delete on mapper.model_metrics to mapper_app;
grant select on mapper.model_metrics to mapper_readonly;

-- The audit trigger of model_metrics, digest mode (0004): an entry per row
-- version (its key and audit_digest() of its text form), a link per statement and tenant.
-- Static SQL for this table's key: no to_jsonb() of whole rows.
-- The SET clauses pin every setting the text form depends on (a digest is reproducible).
create function mapper.model_metrics_audit()
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
                jsonb_build_object('recorded_at', jsonb_agg(n.recorded_at), 'id', jsonb_agg(n.id)),
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
                jsonb_build_object('recorded_at', jsonb_agg(o.recorded_at), 'id', jsonb_agg(o.id)),
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
                    'recorded_at', jsonb_agg(coalesce(n.recorded_at, o.recorded_at)),
                    'id', jsonb_agg(coalesce(n.id, o.id))
                ),
                jsonb_agg(mapper.audit_digest(o.r)), jsonb_agg(mapper.audit_digest(n.r))
            from (select x.tenant_id, x.recorded_at, x.id, x::text as r from old_rows as x) as o
            full join (select x.tenant_id, x.recorded_at, x.id, x::text as r from new_rows as x) as n
                on n.tenant_id = o.tenant_id and n.recorded_at = o.recorded_at and n.id = o.id
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

comment on function mapper.model_metrics_audit() is
    'Statement-level audit trigger of model_metrics (transition tables), digest mode.';

create trigger model_metrics_audit_insert
    after insert on mapper.model_metrics
    referencing new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.model_metrics_audit();
create trigger model_metrics_audit_update
    after update on mapper.model_metrics
    referencing old table as old_rows new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.model_metrics_audit();
create trigger model_metrics_audit_delete
    after delete on mapper.model_metrics
    referencing old table as old_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.model_metrics_audit();

select count(*) from mapper.maintain_partitions();

reset role;
