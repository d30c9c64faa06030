-- Reverses 0018_tenant_data_keys: drops the wrapped data keys with their policies and grants.
set local role mapper_owner;

drop table mapper.tenant_data_keys;

reset role;
