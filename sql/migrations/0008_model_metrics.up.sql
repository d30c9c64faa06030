-- Model quality and latency metrics (the seed's ModelMetric), partitioned by month of
-- recorded_at. Values must be finite numbers; labels are a small flat jsonb object.
set local role mapper_owner;

create table mapper.model_metrics (
    tenant_id uuid not null,
    id uuid not null default mapper.uuid_v7(),
    recorded_at timestamptz not null default now(),
    model_version text not null,
    detector_type text not null,
    metric_name text not null,
    metric_value double precision not null,
    labels jsonb not null default '{}'::jsonb,
    constraint model_metrics_pk primary key (tenant_id, recorded_at, id),
    constraint model_metrics_tenant_fk foreign key (tenant_id)
        references mapper.tenant_configs (tenant_id),
    -- Time window: finite, from 2000-01-01 (here), at most a day ahead (the *_future triggers).
    constraint model_metrics_recorded_at_check check (
        recorded_at >= '2000-01-01 00:00:00+00' and recorded_at < 'infinity'
    ),
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

create trigger model_metrics_recorded_at_future
    before insert or update of recorded_at on mapper.model_metrics
    for each row
    when (new.recorded_at > now() + interval '1 day' and new.recorded_at < 'infinity')
    execute function mapper.reject_future_time('recorded_at', 'model_metrics_recorded_at_future_check');

create trigger model_metrics_no_truncate
    before truncate on mapper.model_metrics
    for each statement execute function mapper.reject_truncate();

-- Audit, digest mode: mapper.model_metrics_audit() and its insert, update and delete
-- triggers, made by the template in 0004 (which says what a link records).
select mapper.create_digest_audit('model_metrics', 'recorded_at');

select count(*) from mapper.maintain_partitions();

reset role;
