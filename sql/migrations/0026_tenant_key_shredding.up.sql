-- Offboarding a tenant that has data keys (issue sec9b). tenant_data_keys_tenant_fk (0018) keeps
-- a configuration from going while its keys remain, and delete_tenant() (0022) deleted only the
-- configuration: for any tenant that ever encrypted anything it failed on that foreign key. And
-- the owner's crypto-shredding policy (delete in maintenance mode, no select policy) deleted
-- nothing with `where tenant_id = ...` (RLS hid the rows the WHERE reads) but every tenant's
-- keys with no WHERE at all.
--   * delete_tenant() now deletes the tenant in context's keys, then its configuration, in one
--     call: each delete a link of the tenant's chain (0024's trigger); refused while the
--     tenant's data rows remain (their foreign keys), and then nothing is deleted, keys included.
--     The foreign key stays NO ACTION, not CASCADE: no other delete of a configuration shreds
--     keys as a side effect.
--   * the owner's key policies are keyed on the tenant context, like its policies on every
--     other tenant table (0013): select and delete of the tenant in context. The cross-tenant
--     maintenance delete is dropped: no job deletes keys across tenants, and a delete that
--     cannot be undone must not reach every tenant by a missing WHERE.
--   * shred_tenant_keys(tenant_id): the operator's crypto-shredding of one named tenant (its
--     data rows may stay: without the key they are unreadable). It puts that tenant in context
--     for its delete only. Chosen over a cross-tenant select policy because the tenant is an
--     argument that must be given, not a WHERE that may be forgotten; executable by mapper_owner
--     alone (no grant: the admin must `set role mapper_owner`, which pgaudit logs).
set local role mapper_owner;

create policy tenant_data_keys_owner_select on mapper.tenant_data_keys
    for select to mapper_owner
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy tenant_data_keys_owner_delete on mapper.tenant_data_keys
    for delete to mapper_owner
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
drop policy tenant_data_keys_maintenance_delete on mapper.tenant_data_keys;

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
    -- (which spare the owner in maintenance) would not fire. Cleared for the rest of the
    -- caller's transaction, not only this call (0022 said otherwise): a SET clause cannot name
    -- a placeholder setting without a superuser, and clearing it only takes rights away.
    perform pg_catalog.set_config('mapper.maintenance', '', true);
    -- Crypto-shredding first (tenant_data_keys_tenant_fk): if the configuration delete is then
    -- refused because data rows remain, the whole call rolls back and the keys stay.
    delete from mapper.tenant_data_keys
    where tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid);
    delete from mapper.tenant_configs
    where tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid);
    get diagnostics v_count = row_count;
    return v_count;
end
$$;

comment on function mapper.delete_tenant() is
    'Offboards the tenant in context: deletes its data keys (crypto-shredding), then its '
    'configuration row, each audited; refused, nothing deleted, while its data remains.';

create function mapper.shred_tenant_keys(p_tenant_id uuid)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_context text := pg_catalog.current_setting('app.tenant_id', true);
    v_count bigint;
begin
    if p_tenant_id is null then
        raise exception 'shred_tenant_keys(): no tenant named'
            using errcode = 'invalid_parameter_value',
                hint = 'pass the id of the tenant whose data keys are to be deleted';
    end if;
    -- The owner's key policies and the audit link follow the tenant context: the named tenant,
    -- for this delete only (a SET clause cannot scope it: app.tenant_id is a placeholder, which
    -- only a superuser may name there), then the caller's context again.
    perform pg_catalog.set_config('app.tenant_id', p_tenant_id::text, true);
    delete from mapper.tenant_data_keys
    where tenant_id = p_tenant_id;
    get diagnostics v_count = row_count;
    perform pg_catalog.set_config('app.tenant_id', coalesce(v_context, ''), true);
    return v_count;
end
$$;

comment on function mapper.shred_tenant_keys(uuid) is
    'Crypto-shredding: deletes every data key of the named tenant, audited in its chain; '
    'returns how many. mapper_owner only.';

reset role;
