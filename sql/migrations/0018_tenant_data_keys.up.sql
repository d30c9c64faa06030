-- Per-tenant data keys of the application's envelope encryption (mapperdb.client, docs/client.md).
-- Each row is a 256-bit AES-GCM data key wrapped (RSA-OAEP-256) by the tenant's Key Vault
-- key-encryption key (tenant_configs.key_vault_key_uri): the database never holds a plaintext
-- key. key_version is the 32-hex id stored beside every ciphertext
-- (storage_records.payload_key_version). A KEK rotation re-wraps rows in place (kek_key_id and
-- wrapped_key change, key_version does not); re-encryption adds a new version and retires the
-- old one. Nobody but the owner may delete a key: a retired key still opens backups.
set local role mapper_owner;

create table mapper.tenant_data_keys (
    tenant_id uuid not null,
    key_version text not null,
    seq integer not null,
    state text not null default 'active',
    wrapped_key bytea not null,
    wrap_algorithm text not null default 'RSA-OAEP-256',
    kek_key_id text not null,
    created_at timestamptz not null default now(),
    wrapped_at timestamptz not null default now(),
    constraint tenant_data_keys_pk primary key (tenant_id, key_version),
    constraint tenant_data_keys_seq_key unique (tenant_id, seq),
    constraint tenant_data_keys_tenant_fk foreign key (tenant_id)
        references mapper.tenant_configs (tenant_id),
    constraint tenant_data_keys_key_version_check
        check (key_version ~ '^[0-9a-f]+$' and octet_length(key_version) = 32),
    constraint tenant_data_keys_seq_check check (seq >= 1),
    constraint tenant_data_keys_state_check check (state in ('active', 'retired')),
    constraint tenant_data_keys_wrapped_key_check
        check (octet_length(wrapped_key) between 16 and 1024),
    constraint tenant_data_keys_wrap_algorithm_check
        check (wrap_algorithm in ('RSA-OAEP-256')),
    constraint tenant_data_keys_kek_key_id_check check (
        kek_key_id ~ '^https://[a-z0-9-]+\.vault\.azure\.net/keys/[A-Za-z0-9-]+/[0-9a-f]+$'
        and char_length(kek_key_id) <= 300
    ),
    constraint tenant_data_keys_wrapped_at_check check (wrapped_at >= created_at)
);

comment on table mapper.tenant_data_keys is
    'Per-tenant AES data keys, wrapped by the tenant''s Key Vault KEK; never plaintext.';
comment on index mapper.tenant_data_keys_pk is
    'Serves the unwrap of the key named by a ciphertext''s payload_key_version.';
comment on index mapper.tenant_data_keys_seq_key is
    'Serves the tenant''s newest key (order by seq desc limit 1) and numbers versions.';

alter table mapper.tenant_data_keys enable row level security;
alter table mapper.tenant_data_keys force row level security;

create policy tenant_data_keys_app_select on mapper.tenant_data_keys
    for select to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_data_keys_app_insert on mapper.tenant_data_keys
    for insert to mapper_app
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_data_keys_app_update on mapper.tenant_data_keys
    for update to mapper_app
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
-- Replicas serve reads, and reading a payload means unwrapping its key.
create policy tenant_data_keys_readonly_select on mapper.tenant_data_keys
    for select to mapper_readonly
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
-- Crypto-shredding of a departed tenant: only the owner, in maintenance mode, deletes keys.
create policy tenant_data_keys_maintenance_delete on mapper.tenant_data_keys
    for delete to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');

-- The app may re-wrap and retire a key, never rename, renumber or move it to another tenant.
grant select, insert on mapper.tenant_data_keys to mapper_app;
grant update (state, wrapped_key, wrap_algorithm, kek_key_id, wrapped_at)
    on mapper.tenant_data_keys to mapper_app;
grant select on mapper.tenant_data_keys to mapper_readonly;

reset role;
