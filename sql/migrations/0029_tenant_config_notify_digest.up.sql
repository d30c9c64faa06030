-- NOTIFY mapper_tenant_configs no longer names the tenant (issue 14). Any login that may
-- connect may LISTEN on any channel, and 0019's payload was the tenant id: every login could
-- learn which tenants exist and when their configuration changes. The payload is now a keyed
-- digest, the hex of sha256(secret || the tenant id's 16 bytes), where the secret (32 random
-- bytes) is readable by its owner and mapper_app only; the trigger reads it as SECURITY
-- DEFINER. It lives in a schema of its own, mapper_private (usage: mapper_app only): not
-- application data, no tenant rows, kept out of schema mapper's catalog and its statistics. mapperdb.client keys its cached configurations by the same digest, so a listener
-- drops exactly the entry named without knowing the tenant, and an eavesdropper can neither
-- invert a digest nor compute one for a tenant id it knows. Any login may also NOTIFY: the
-- client ignores a payload that is not a digest, and a replayed digest drops one cached entry
-- (one database read), never all of them. The key and message have fixed lengths, so SHA-256's
-- length extension gives nothing; PostgreSQL has no built-in HMAC (pgcrypto is not required).
set local role mapper_owner;

create schema mapper_private authorization mapper_owner;

comment on schema mapper_private is
    'Secrets of the platform''s own machinery (not application data); usage: mapper_app.';

grant usage on schema mapper_private to mapper_app;

create table mapper_private.cache_notify_key (
    id bigint not null default 1,
    secret bytea not null default pg_catalog.decode(
        pg_catalog.replace(
            pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''
        ),
        'hex'
    ),
    created_at timestamptz not null default now(),
    constraint cache_notify_key_pk primary key (id),
    constraint cache_notify_key_id_check check (id = 1),
    constraint cache_notify_key_secret_check check (octet_length(secret) = 32)
);

comment on table mapper_private.cache_notify_key is
    'The secret of the tenant-config NOTIFY digests (one row; 244 random bits); readable by '
    'mapper_app, which keys its cache by the digests. Rotate: update, then restart listeners.';

comment on index mapper_private.cache_notify_key_pk is 'Keeps the key to one row (id = 1).';

-- A one-row table has nothing for the planner to learn, and the secret must not be copied
-- into pg_statistic.
alter table mapper_private.cache_notify_key alter column secret set statistics 0;

insert into mapper_private.cache_notify_key (id) values (1);

revoke all on mapper_private.cache_notify_key from public;
grant select on mapper_private.cache_notify_key to mapper_app;

create or replace function mapper.tenant_configs_notify()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pg_catalog.pg_notify(
        'mapper_tenant_configs',
        pg_catalog.encode(
            pg_catalog.sha256(
                k.secret || pg_catalog.uuid_send(coalesce(new.tenant_id, old.tenant_id))
            ),
            'hex'
        )
    )
    from mapper_private.cache_notify_key as k
    where k.id = 1;
    return null;
end
$$;

comment on function mapper.tenant_configs_notify() is
    'Tells cache listeners which tenant''s configuration changed, as a keyed digest of its id.';

reset role;
