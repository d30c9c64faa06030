-- Reverses 0022_audit_bypasses: the functions as 0013 and 0004 made them.
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
    then
        return null;
    end if;
    raise exception 'mapper.audit_records is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

reset role;
