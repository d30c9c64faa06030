-- Mapped detector outputs (the seed's StorageRecord), partitioned by month of created_at.
-- The raw input is never stored: only its sha256 (source_data_hash). The payload is ciphertext
-- produced by the application with the tenant's Key Vault key (payload_key_version says which
-- version). Every change is audited in digest mode (0004): the trail commits to each row
-- version's sha256 and never holds a copy of the record.
set local role mapper_owner;

create table mapper.storage_records (
    tenant_id uuid not null,
    id bigint generated always as identity,
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
    constraint storage_records_source_data_hash_check check (
        source_data_hash ~ '^[0-9a-f]+$' and octet_length(source_data_hash) = 64
    ),
    constraint storage_records_detector_type_check
        check (detector_type ~ '^[a-z][a-z0-9_]*$' and char_length(detector_type) <= 63),
    constraint storage_records_taxonomy_labels_check check (
        cardinality(taxonomy_labels) between 1 and 32
        and array_position(taxonomy_labels, null) is null
        and array_to_string(taxonomy_labels, '|')
        ~ '^[A-Za-z][A-Za-z0-9_.-]*(\|[A-Za-z][A-Za-z0-9_.-]*)*$'
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

-- The audit trigger of storage_records, digest mode (0004): an entry per row
-- version (its key and audit_digest() of its text form), a link per statement and tenant.
-- Static SQL for this table's key: no to_jsonb() of whole rows.
-- The SET clauses pin every setting the text form depends on (a digest is reproducible).
-- The payload's ciphertext is part of the row's text form, so the digest covers it; the trail
-- never holds it.
create function mapper.storage_records_audit()
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
                jsonb_build_object('created_at', jsonb_agg(n.created_at), 'id', jsonb_agg(n.id)),
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
                jsonb_build_object('created_at', jsonb_agg(o.created_at), 'id', jsonb_agg(o.id)),
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
                    'created_at', jsonb_agg(coalesce(n.created_at, o.created_at)),
                    'id', jsonb_agg(coalesce(n.id, o.id))
                ),
                jsonb_agg(mapper.audit_digest(o.r)), jsonb_agg(mapper.audit_digest(n.r))
            from (select x.tenant_id, x.created_at, x.id, x::text as r from old_rows as x) as o
            full join (select x.tenant_id, x.created_at, x.id, x::text as r from new_rows as x) as n
                on n.tenant_id = o.tenant_id and n.created_at = o.created_at and n.id = o.id
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

comment on function mapper.storage_records_audit() is
    'Statement-level audit trigger of storage_records (transition tables), digest mode.';

create trigger storage_records_audit_insert
    after insert on mapper.storage_records
    referencing new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.storage_records_audit();
create trigger storage_records_audit_update
    after update on mapper.storage_records
    referencing old table as old_rows new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.storage_records_audit();
create trigger storage_records_audit_delete
    after delete on mapper.storage_records
    referencing old table as old_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.storage_records_audit();

select count(*) from mapper.maintain_partitions();

reset role;
