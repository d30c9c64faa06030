-- Detector runs (the seed's DetectorExecution), partitioned by month of started_at. A run is
-- 'running' until it finishes; duration is derived, never supplied; an error code is only
-- allowed on a failed or timed-out run.
set local role mapper_owner;

create table mapper.detector_executions (
    tenant_id uuid not null,
    id uuid not null default mapper.uuid_v7(),
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    -- Only for finite times: an infinite one must reach its CHECK, not fail the subtraction.
    duration interval generated always as (
        case when isfinite(started_at) and isfinite(finished_at) then finished_at - started_at end
    ) stored,
    detector_type text not null,
    status text not null default 'running',
    error_code text,
    correlation_id text not null,
    constraint detector_executions_pk primary key (tenant_id, started_at, id),
    constraint detector_executions_tenant_fk foreign key (tenant_id)
        references mapper.tenant_configs (tenant_id),
    -- Time window: finite, from 2000-01-01 (here), at most a day ahead (the *_future triggers).
    constraint detector_executions_started_at_check check (
        started_at >= '2000-01-01 00:00:00+00' and started_at < 'infinity'
    ),
    constraint detector_executions_finished_at_check check (
        finished_at >= '2000-01-01 00:00:00+00' and finished_at < 'infinity'
    ),
    constraint detector_executions_detector_type_check
        check (detector_type ~ '^[a-z][a-z0-9_]*$' and char_length(detector_type) <= 63),
    constraint detector_executions_status_check
        check (status in ('running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
    -- The order of the two times is checked only when both are in the window: a time out of it
    -- breaks its own check alone.
    constraint detector_executions_finished_check check (
        case when status = 'running' then finished_at is null
        else finished_at is not null and (
            finished_at >= started_at
            or not (
                started_at >= '2000-01-01 00:00:00+00' and started_at < 'infinity'
                and finished_at >= '2000-01-01 00:00:00+00' and finished_at < 'infinity'
            )
        ) end
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

create trigger detector_executions_started_at_future
    before insert or update of started_at on mapper.detector_executions
    for each row
    when (new.started_at > now() + interval '1 day' and new.started_at < 'infinity')
    execute function mapper.reject_future_time('started_at', 'detector_executions_started_at_future_check');

create trigger detector_executions_finished_at_future
    before insert or update of finished_at on mapper.detector_executions
    for each row
    when (new.finished_at > now() + interval '1 day' and new.finished_at < 'infinity')
    execute function mapper.reject_future_time('finished_at', 'detector_executions_finished_at_future_check');

create trigger detector_executions_no_truncate
    before truncate on mapper.detector_executions
    for each statement execute function mapper.reject_truncate();

-- Audit, digest mode: mapper.detector_executions_audit() and its insert, update and delete
-- triggers, made by the template in 0004 (which says what a link records).
select mapper.create_digest_audit('detector_executions', 'started_at');

select count(*) from mapper.maintain_partitions();

reset role;
