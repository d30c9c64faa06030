-- What an application session may lock (docs/schema.md, "Noisy neighbours"). PostgreSQL lets
-- LOCK TABLE take a mode above ROW EXCLUSIVE to anyone holding table-level UPDATE, DELETE or
-- TRUNCATE on the table, and nothing else restricts it: with them, one app session could take
-- ACCESS EXCLUSIVE on storage_records and stall every tenant. So mapper_app keeps SELECT and
-- INSERT (ACCESS SHARE and ROW EXCLUSIVE at most), gets UPDATE column by column (the same
-- updates, and SELECT ... FOR UPDATE, but a column grant does not count for LOCK), and deletes
-- through delete_rows() and delete_tenant(): SECURITY DEFINER functions that delete the tenant
-- in context's rows as mapper_owner, under RLS (policies for the owner with the tenant in
-- context) and with the audit triggers firing as for any delete.
set local role mapper_owner;

do $$
declare
    v_table text;
begin
    foreach v_table in array array[
        'tenant_configs', 'storage_records', 'detector_executions', 'model_metrics'
    ]
    loop
        execute format('revoke update, delete on table mapper.%I from mapper_app', v_table);
        execute format(
            'grant update (%s) on table mapper.%I to mapper_app',
            (
                select string_agg(quote_ident(a.attname), ', ' order by a.attnum)
                from pg_catalog.pg_attribute as a
                where a.attrelid = format('mapper.%I', v_table)::regclass and a.attnum > 0
                    and not a.attisdropped and a.attgenerated = ''
            ),
            v_table
        );
        execute format(
            'create policy %I on mapper.%I for select to mapper_owner using '
            '(tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid))',
            v_table || '_owner_select', v_table
        );
        execute format(
            'create policy %I on mapper.%I for delete to mapper_owner using '
            '(tenant_id = (select nullif(current_setting(''app.tenant_id'', true), '''')::uuid))',
            v_table || '_owner_delete', v_table
        );
    end loop;
end
$$;

create function mapper.delete_rows(p_table text, p_ids uuid[])
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

comment on function mapper.delete_rows(text, uuid[]) is
    'Deletes rows of a data table by id, for the tenant in context only (RLS), audited. The '
    'application''s delete: mapper_app holds no table-level DELETE (that would let it LOCK).';

create function mapper.delete_tenant()
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

comment on function mapper.delete_tenant() is
    'Deletes the configuration row of the tenant in context (refused while its data remains: '
    'the foreign keys), audited.';

grant execute on function mapper.delete_rows(text, uuid[]) to mapper_app;
grant execute on function mapper.delete_tenant() to mapper_app;

reset role;
