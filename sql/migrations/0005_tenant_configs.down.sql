-- Reverses 0005_tenant_configs: drops the tenant table (its policies and triggers go with it).
set local role mapper_owner;

drop table mapper.tenant_configs;
drop function mapper.tenant_configs_audit();
drop function mapper.touch_updated_at();

reset role;
