-- Reverses 0013_bounded_locks: drops the delete functions and the owner's tenant policies, and
-- gives mapper_app table-level UPDATE and DELETE again in place of its column grants.
set local role mapper_owner;

drop function mapper.delete_tenant();
drop function mapper.delete_rows(text, uuid[]);

do $$
declare
    v_table text;
begin
    foreach v_table in array array[
        'tenant_configs', 'storage_records', 'detector_executions', 'model_metrics'
    ]
    loop
        execute format('drop policy %I on mapper.%I', v_table || '_owner_delete', v_table);
        execute format('drop policy %I on mapper.%I', v_table || '_owner_select', v_table);
        execute format(
            'revoke update (%s) on table mapper.%I from mapper_app',
            (
                select string_agg(quote_ident(a.attname), ', ' order by a.attnum)
                from pg_catalog.pg_attribute as a
                where a.attrelid = format('mapper.%I', v_table)::regclass and a.attnum > 0
                    and not a.attisdropped and a.attgenerated = ''
            ),
            v_table
        );
        execute format('grant update, delete on table mapper.%I to mapper_app', v_table);
    end loop;
end
$$;

reset role;
