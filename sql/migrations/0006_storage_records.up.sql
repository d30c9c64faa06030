-- Mapped detector outputs (the seed's StorageRecord), partitioned by month of created_at.
-- The raw input is never stored: only its sha256 (source_data_hash). The payload is ciphertext
-- produced by the application with the tenant's Key Vault key (payload_key_version says which
-- version). Every change is audited in digest mode (0004): the trail commits to each row
-- version's sha256 and never holds a copy of the record.
set local role mapper_owner;

create table mapper.storage_records (
    tenant_id uuid not null,
    id uuid not null default mapper.uuid_v7(),
    created_at timestamptz not null default now(),
    source_data_hash text not null,
    detector_type text not null,
    taxonomy_labels text[] not null,
    confidence_score double precision not null,
    model_version text not null,
    correlation_id text not null,
    azure_region text not null,
    backup_status text not null default 'pending',
    payload bytea not null,
    payload_key_version text not null,
    metadata jsonb not null default '{}'::jsonb,
    constraint storage_records_pk primary key (tenant_id, created_at, id),
    constraint storage_records_tenant_fk foreign key (tenant_id)
        references mapper.tenant_configs (tenant_id),
    -- Time window: finite, from 2000-01-01 (here), at most a day ahead (the *_future triggers).
    constraint storage_records_created_at_check check (
        created_at >= '2000-01-01 00:00:00+00' and created_at < 'infinity'
    ),
    constraint storage_records_source_data_hash_check check (
        source_data_hash ~ '^[0-9a-f]+$' and octet_length(source_data_hash) = 64
    ),
    constraint storage_records_detector_type_check
        check (detector_type ~ '^[a-z][a-z0-9_]*$' and char_length(detector_type) <= 63),
    -- Each element a label: a flat array (one dimension, from 1), no null, no element holding
    -- the separator (as many separators as elements less one).
    constraint storage_records_taxonomy_labels_check check (
        cardinality(taxonomy_labels) between 1 and 32
        and array_ndims(taxonomy_labels) = 1
        and array_lower(taxonomy_labels, 1) = 1
        and array_position(taxonomy_labels, null) is null
        and array_to_string(taxonomy_labels, '|')
        ~ '^[A-Za-z][A-Za-z0-9_.-]*(\|[A-Za-z][A-Za-z0-9_.-]*)*$'
        and char_length(array_to_string(taxonomy_labels, '|'))
        - char_length(replace(array_to_string(taxonomy_labels, '|'), '|', ''))
        = cardinality(taxonomy_labels) - 1
        and char_length(array_to_string(taxonomy_labels, '|')) <= 4096
    ),
    constraint storage_records_confidence_score_check
        check (confidence_score >= 0 and confidence_score <= 1),
    constraint storage_records_model_version_check
        check (model_version ~ '^[A-Za-z0-9][A-Za-z0-9._+-]*$' and char_length(model_version) <= 64),
    constraint storage_records_correlation_id_check
        check (correlation_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]*$' and char_length(correlation_id) <= 128),
    constraint storage_records_azure_region_check check (
        azure_region ~ '^[a-z][a-z0-9]+$' and char_length(azure_region) <= 40
    ),
    constraint storage_records_backup_status_check
        check (backup_status in ('pending', 'backed_up', 'failed')),
    constraint storage_records_payload_check check (octet_length(payload) between 1 and 1048576),
    constraint storage_records_payload_key_version_check
        check (payload_key_version ~ '^[0-9a-f]+$' and octet_length(payload_key_version) = 32),
    constraint storage_records_metadata_check check (
        jsonb_typeof(metadata) = 'object' and octet_length(metadata::text) <= 8192
    )
) partition by range (created_at);

comment on table mapper.storage_records is
    'Mapped detector outputs; payload is application-encrypted ciphertext, raw input never stored.';
comment on index mapper.storage_records_pk is
    'Serves a tenant''s latest records (where tenant_id = $1 order by created_at desc limit n) '
    'and covers storage_records_tenant_fk.';

create index storage_records_correlation_idx
    on mapper.storage_records (tenant_id, correlation_id);
comment on index mapper.storage_records_correlation_idx is
    'Serves a tenant''s records by correlation id (tracing one request through the mapper).';

create index storage_records_detector_time_idx
    on mapper.storage_records (tenant_id, detector_type, created_at);
comment on index mapper.storage_records_detector_time_idx is
    'Serves a tenant''s records by detector and period (records_by_detector(), daily aggregates).';

alter table mapper.storage_records enable row level security;
alter table mapper.storage_records force row level security;

create policy storage_records_app_select on mapper.storage_records
    for select to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy storage_records_app_insert on mapper.storage_records
    for insert to mapper_app
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy storage_records_app_update on mapper.storage_records
    for update to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy storage_records_app_delete on mapper.storage_records
    for delete to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy storage_records_readonly_select on mapper.storage_records
    for select to mapper_readonly
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
-- Retention and the daily aggregates run as mapper_owner in maintenance mode, across tenants.
create policy storage_records_maintenance_select on mapper.storage_records
    for select to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');
create policy storage_records_maintenance_delete on mapper.storage_records
    for delete to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');

grant select, insert, update, delete on mapper.storage_records to mapper_app;
grant select on mapper.storage_records to mapper_readonly;

create trigger storage_records_created_at_future
    before insert or update of created_at on mapper.storage_records
    for each row
    when (new.created_at > now() + interval '1 day' and new.created_at < 'infinity')
    execute function mapper.reject_future_time('created_at', 'storage_records_created_at_future_check');

create trigger storage_records_no_truncate
    before truncate on mapper.storage_records
    for each statement execute function mapper.reject_truncate();

-- Audit, digest mode: mapper.storage_records_audit() and its insert, update and delete
-- triggers, made by the template in 0004 (which says what a link records).
select mapper.create_digest_audit('storage_records', 'created_at');

select count(*) from mapper.maintain_partitions();

reset role;
