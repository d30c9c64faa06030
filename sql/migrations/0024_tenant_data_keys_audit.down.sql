-- Reverses 0024_tenant_data_keys_audit: drops the audit, time-window and truncate triggers of
-- tenant_data_keys and their functions, and restores 0018's wrapped_at check.
set local role mapper_owner;

drop trigger tenant_data_keys_audit_delete on mapper.tenant_data_keys;
drop trigger tenant_data_keys_audit_update on mapper.tenant_data_keys;
drop trigger tenant_data_keys_audit_insert on mapper.tenant_data_keys;
drop function mapper.tenant_data_keys_audit();
drop function mapper.tenant_data_key_image(mapper.tenant_data_keys);
drop trigger tenant_data_keys_no_truncate on mapper.tenant_data_keys;
drop trigger tenant_data_keys_wrapped_at_future on mapper.tenant_data_keys;
drop trigger tenant_data_keys_created_at_future on mapper.tenant_data_keys;

-- mapperdb:allow LOCK004 reason: restores 0018's check on a table of a few rows per tenant
alter table mapper.tenant_data_keys
    drop constraint tenant_data_keys_wrapped_at_check,
    drop constraint tenant_data_keys_created_at_check,
    add constraint tenant_data_keys_wrapped_at_check check (wrapped_at >= created_at);

reset role;
