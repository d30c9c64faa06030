-- Reverses 0019_tenant_config_notify: the cache invalidation trigger and its function.
set local role mapper_owner;

drop trigger tenant_configs_notify on mapper.tenant_configs;
drop function mapper.tenant_configs_notify();

reset role;
