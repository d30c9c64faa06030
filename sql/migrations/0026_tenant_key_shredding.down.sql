-- Reverses 0026_tenant_key_shredding: drops shred_tenant_keys() and the owner's tenant-keyed
-- key policies, restores 0018's maintenance delete policy and 0022's delete_tenant() (which
-- deletes the configuration only) with 0013's comment.
set local role mapper_owner;

drop function mapper.shred_tenant_keys(uuid);

create or replace function mapper.delete_tenant()
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_count bigint;
begin
    -- Owner's rights must not inherit the caller's maintenance flag, or the audit triggers
    -- (which spare the owner in maintenance) would not fire: the SET clause scopes this to the call.
    perform pg_catalog.set_config('mapper.maintenance', '', true);
    delete from mapper.tenant_configs
    where tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid);
    get diagnostics v_count = row_count;
    return v_count;
end
$$;

comment on function mapper.delete_tenant() is
    'Deletes the configuration row of the tenant in context (refused while its data remains: '
    'the foreign keys), audited.';

create policy tenant_data_keys_maintenance_delete on mapper.tenant_data_keys
    for delete to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');
drop policy tenant_data_keys_owner_delete on mapper.tenant_data_keys;
drop policy tenant_data_keys_owner_select on mapper.tenant_data_keys;

reset role;
