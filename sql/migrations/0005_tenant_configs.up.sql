-- Tenants and their configuration (the seed's TenantConfig). The tenant row is the parent of every
-- tenant's data: each tenant table has a foreign key to it on tenant_id, and retention reads
-- retention_days from it. key_vault_key_uri names the Key Vault key the application uses to
-- encrypt the tenant's fields; the database never sees key material.
set local role mapper_owner;

create table mapper.tenant_configs (
    tenant_id uuid not null,
    name text not null,
    status text not null default 'active',
    retention_days integer not null default 90,
    key_vault_key_uri text not null,
    allowed_detector_types text[] not null default array[]::text[],
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint tenant_configs_pk primary key (tenant_id),
    -- No control, zero-width or bidirectional formatting characters: a name is shown to people.
    constraint tenant_configs_name_check check (
        char_length(name) between 1 and 200
        and name !~ '[\x01-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]'
    ),
    constraint tenant_configs_status_check check (status in ('active', 'suspended', 'offboarding')),
    constraint tenant_configs_retention_days_check check (retention_days between 1 and 3650),
    constraint tenant_configs_key_vault_key_uri_check check (
        key_vault_key_uri
        ~ '^https://[a-z0-9-]{3,24}\.vault\.azure\.net/keys/[A-Za-z0-9-]{1,127}(/[0-9a-f]{32})?$'
    ),
    -- Each element a detector type: a flat array (one dimension, from 1), no null, no element
    -- holding the separator (as many separators as elements less one), none longer than 63.
    constraint tenant_configs_allowed_detector_types_check check (
        cardinality(allowed_detector_types) = 0
        or (
            cardinality(allowed_detector_types) <= 64
            and array_ndims(allowed_detector_types) = 1
            and array_lower(allowed_detector_types, 1) = 1
            and array_position(allowed_detector_types, null) is null
            and array_to_string(allowed_detector_types, ',') ~ '^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$'
            and array_to_string(allowed_detector_types, ',') !~ '[a-z0-9_]{64}'
            and char_length(array_to_string(allowed_detector_types, ','))
            - char_length(replace(array_to_string(allowed_detector_types, ','), ',', ''))
            = cardinality(allowed_detector_types) - 1
        )
    ),
    -- Time window: finite, from 2000-01-01 (here), at most a day ahead (the *_future triggers).
    constraint tenant_configs_created_at_check check (
        created_at >= '2000-01-01 00:00:00+00' and created_at < 'infinity'
    ),
    -- Ordered only when both are in the window: a value out of it breaks its own check alone.
    constraint tenant_configs_updated_at_check check (
        updated_at >= '2000-01-01 00:00:00+00' and updated_at < 'infinity'
        and (updated_at >= created_at or not (created_at >= '2000-01-01 00:00:00+00' and created_at < 'infinity'))
    )
);

comment on table mapper.tenant_configs is 'One row per tenant: status, retention and key reference.';
comment on index mapper.tenant_configs_pk is
    'Serves the tenant''s own configuration lookup and every foreign key to the tenant.';

alter table mapper.tenant_configs enable row level security;
alter table mapper.tenant_configs force row level security;

create policy tenant_configs_app_select on mapper.tenant_configs
    for select to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_configs_app_insert on mapper.tenant_configs
    for insert to mapper_app
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_configs_app_update on mapper.tenant_configs
    for update to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_configs_app_delete on mapper.tenant_configs
    for delete to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_configs_reader_select on mapper.tenant_configs
    for select to mapper_readonly, mapper_auditor
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
-- The retention job (mapper_owner, maintenance mode) reads every tenant's retention_days.
create policy tenant_configs_maintenance_select on mapper.tenant_configs
    for select to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');

grant select, insert, update, delete on mapper.tenant_configs to mapper_app;
grant select on mapper.tenant_configs to mapper_readonly, mapper_auditor;

create function mapper.touch_updated_at()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

comment on function mapper.touch_updated_at() is 'Keeps updated_at truthful on every update.';

create trigger tenant_configs_created_at_future
    before insert or update of created_at on mapper.tenant_configs
    for each row
    when (new.created_at > now() + interval '1 day' and new.created_at < 'infinity')
    execute function mapper.reject_future_time('created_at', 'tenant_configs_created_at_future_check');

create trigger tenant_configs_updated_at_future
    before insert or update of updated_at on mapper.tenant_configs
    for each row
    when (new.updated_at > now() + interval '1 day' and new.updated_at < 'infinity')
    execute function mapper.reject_future_time('updated_at', 'tenant_configs_updated_at_future_check');

create trigger tenant_configs_no_truncate
    before truncate on mapper.tenant_configs
    for each statement execute function mapper.reject_truncate();

create trigger tenant_configs_touch_updated_at
    before update on mapper.tenant_configs
    for each row execute function mapper.touch_updated_at();

-- The audit trigger of tenant_configs, full mode (0004): each entry is the whole row version as
-- JSON (few, small rows; a tenant's configuration history stays readable in its trail). A
-- tenant has one configuration row, so each link has one entry.
create function mapper.tenant_configs_audit()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_links refcursor;
    v_tenant uuid;
    v_old jsonb;
    v_new jsonb;
begin
    if tg_op = 'INSERT' then
        open v_links for select n.tenant_id, null::jsonb, to_jsonb(n) from new_rows as n;
    elsif tg_op = 'DELETE' then
        open v_links for select o.tenant_id, to_jsonb(o), null::jsonb from old_rows as o;
    else
        -- Old and new versions paired by key; a changed key shows as a link with one side null.
        open v_links for
            select coalesce(n.tenant_id, o.tenant_id), to_jsonb(o), to_jsonb(n)
            from old_rows as o
            full join new_rows as n on n.tenant_id = o.tenant_id;
    end if;
    loop
        fetch v_links into v_tenant, v_old, v_new;
        exit when not found;
        perform mapper.audit_append(
            v_tenant, tg_table_name, lower(tg_op), 1,
            jsonb_build_object('tenant_id', jsonb_build_array(v_tenant)),
            case when tg_op <> 'INSERT' then jsonb_build_array(v_old) end,
            case when tg_op <> 'DELETE' then jsonb_build_array(v_new) end
        );
    end loop;
    close v_links;
    return null;
end
$$;

comment on function mapper.tenant_configs_audit() is
    'Statement-level audit trigger of tenant_configs (transition tables), full mode.';

create trigger tenant_configs_audit_insert
    after insert on mapper.tenant_configs
    referencing new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.tenant_configs_audit();
create trigger tenant_configs_audit_update
    after update on mapper.tenant_configs
    referencing old table as old_rows new table as new_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.tenant_configs_audit();
create trigger tenant_configs_audit_delete
    after delete on mapper.tenant_configs
    referencing old table as old_rows
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.tenant_configs_audit();

reset role;
