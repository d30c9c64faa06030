-- Cache invalidation: every committed change of a tenant's configuration sends
-- NOTIFY mapper_tenant_configs with the tenant id, and mapperdb.client's cache listener drops
-- that tenant's cached copy in Redis. The payload is the id only, never the configuration.
-- NOTIFY is delivered at commit (a rolled-back change sends nothing) and is deduplicated within
-- a transaction.
set local role mapper_owner;

create function mapper.tenant_configs_notify()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pg_notify('mapper_tenant_configs', coalesce(new.tenant_id, old.tenant_id)::text);
    return null;
end
$$;

comment on function mapper.tenant_configs_notify() is
    'Tells cache listeners which tenant''s configuration changed (id only).';

create trigger tenant_configs_notify
    after insert or update or delete on mapper.tenant_configs
    for each row execute function mapper.tenant_configs_notify();

reset role;
