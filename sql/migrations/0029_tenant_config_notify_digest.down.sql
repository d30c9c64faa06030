-- Reverses 0029_tenant_config_notify_digest: the payload is the tenant id again (0019), and
-- the digest's secret and its schema are dropped.
set local role mapper_owner;

create or replace function mapper.tenant_configs_notify()
returns trigger
language plpgsql
security invoker
set search_path = pg_catalog, pg_temp
as $$
begin
    perform pg_notify('mapper_tenant_configs', coalesce(new.tenant_id, old.tenant_id)::text);
    return null;
end
$$;

comment on function mapper.tenant_configs_notify() is
    'Tells cache listeners which tenant''s configuration changed (id only).';

drop table mapper_private.cache_notify_key;
drop schema mapper_private;

reset role;
