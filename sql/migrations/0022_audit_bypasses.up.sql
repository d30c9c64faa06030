-- Closes two ways around the audit trail found by attacking the schema (issue 9):
--   - an app session that switched mapper.maintenance on before calling delete_rows() or
--     delete_tenant() deleted with no audit link: those functions run as mapper_owner, and the
--     audit triggers spare the owner in maintenance. They now clear the flag for their call.
--   - the owner could name any audit partition in mapper.partition_move and delete its links;
--     only the default partition (drained by maintain_partitions()) may be.
set local role mapper_owner;

create or replace function mapper.delete_rows(p_table text, p_ids uuid[])
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
    if p_table is null
        or p_table not in ('storage_records', 'detector_executions', 'model_metrics') then
        raise exception 'delete_rows(): % is not a data table', p_table
            using errcode = 'invalid_parameter_value',
                hint = 'storage_records, detector_executions or model_metrics';
    end if;
    execute format(
        'delete from mapper.%I where tenant_id = '
        '(select nullif(current_setting(''app.tenant_id'', true), '''')::uuid) and id = any($1)',
        p_table
    ) using p_ids;
    get diagnostics v_count = row_count;
    return v_count;
end
$$;

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

create or replace function mapper.reject_audit_change()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    -- The one exception: maintain_partitions() draining the default partition into a month
    -- partition moves links without changing them (the chain still verifies; the move is in
    -- maintenance_log). It names the partition it drains in mapper.partition_move.
    if tg_op = 'DELETE' and current_user = 'mapper_owner'
        and current_setting('mapper.partition_move', true)
            = format('%I.%I', tg_table_schema, tg_table_name)
        -- Only the default partition is ever drained: a month partition's links never move.
        and tg_relid = (
            select p.partdefid from pg_catalog.pg_partitioned_table as p
            where p.partrelid = 'mapper.audit_records'::regclass
        )
    then
        return null;
    end if;
    raise exception 'mapper.audit_records is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

reset role;
