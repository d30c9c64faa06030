-- Reverses 0001_roles: takes back CREATE on this database and drops the group roles unless
-- another database of the cluster still uses them (roles are cluster-wide; dropping a role that
-- owns objects elsewhere would fail, and must not break the other database).
do $$
declare
    v_role text;
begin
    execute format('revoke create on database %I from mapper_owner', current_database());
    foreach v_role in array array[
        'mapper_maintainer', 'mapper_auditor', 'mapper_readonly', 'mapper_app', 'mapper_owner'
    ]
    loop
        begin
            execute format('drop role if exists %I', v_role);
        exception
            when dependent_objects_still_exist then
                raise notice 'role % is still used by another database of this cluster; kept', v_role;
        end;
    end loop;
end
$$;
